package http

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/acme/identity/modules/identity/domain"
	"github.com/acme/identity/platform/httpserver"
)

// WebhookService is what the webhook routes of the administration API need of the use
// cases (app.Service satisfies it).
type WebhookService interface {
	CreateWebhook(ctx context.Context, url string, events []string) (domain.Webhook, error)
	Webhooks(ctx context.Context) ([]domain.Webhook, error)
	DeleteWebhook(ctx context.Context, id string) error
	WebhookAttempts(ctx context.Context, id string, limit int) ([]domain.WebhookAttempt, error)
}

// registerWebhooks mounts the webhook routes on admin (/admin/v1).
func (h *Handlers) registerWebhooks(admin *echo.Group) {
	mapErrors := httpserver.MapErrors(problemFor)
	admin.POST("/webhooks", h.createWebhook, mapErrors)
	admin.GET("/webhooks", h.listWebhooks, mapErrors)
	admin.DELETE("/webhooks/:id", h.deleteWebhook, mapErrors)
	admin.GET("/webhooks/:id/deliveries", h.webhookDeliveries, mapErrors)
}

type createWebhookRequest struct {
	URL    string   `json:"url"`
	Events []string `json:"events"`
}

// webhookResponse is an endpoint as the administration API renders it; Secret only in
// the answer to its creation.
type webhookResponse struct {
	ID             string     `json:"id"`
	URL            string     `json:"url"`
	Events         []string   `json:"events"`
	Secret         string     `json:"secret,omitempty"`
	CreatedAt      time.Time  `json:"created_at"`
	DisabledAt     *time.Time `json:"disabled_at,omitempty"`
	DisabledReason string     `json:"disabled_reason,omitempty"`
}

func toWebhookResponse(w domain.Webhook) webhookResponse {
	r := webhookResponse{ID: w.ID, URL: w.URL, Events: w.Events, CreatedAt: w.CreatedAt.UTC(), DisabledReason: w.DisabledReason}
	if w.DisabledAt != nil {
		at := w.DisabledAt.UTC()
		r.DisabledAt = &at
	}
	return r
}

func (h *Handlers) createWebhook(c echo.Context) error {
	var req createWebhookRequest
	if err := httpserver.BindJSON(c, &req); err != nil {
		return err
	}
	if req.URL == "" {
		return invalid(field{"url", "is required"})
	}
	w, err := h.svc.CreateWebhook(c.Request().Context(), req.URL, req.Events)
	if err != nil {
		return err
	}
	out := toWebhookResponse(w)
	out.Secret = w.Secret
	c.Response().Header().Set(echo.HeaderLocation, "/admin/v1/webhooks/"+w.ID)
	return c.JSON(http.StatusCreated, out)
}

type webhooksResponse struct {
	Webhooks []webhookResponse `json:"webhooks"`
}

func (h *Handlers) listWebhooks(c echo.Context) error {
	ws, err := h.svc.Webhooks(c.Request().Context())
	if err != nil {
		return err
	}
	out := webhooksResponse{Webhooks: make([]webhookResponse, len(ws))}
	for i, w := range ws {
		out.Webhooks[i] = toWebhookResponse(w)
	}
	return c.JSON(http.StatusOK, out)
}

func (h *Handlers) deleteWebhook(c echo.Context) error {
	if err := h.svc.DeleteWebhook(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type deliveryResponse struct {
	EventID     string    `json:"event_id"`
	AttemptedAt time.Time `json:"attempted_at"`
	// Status is the HTTP status answered; null when none came.
	Status     *int   `json:"status"`
	DurationMs int64  `json:"duration_ms"`
	Error      string `json:"error"`
}

type deliveriesResponse struct {
	Deliveries []deliveryResponse `json:"deliveries"`
}

func (h *Handlers) webhookDeliveries(c echo.Context) error {
	limit, msg := pageLimit(c.QueryParam("limit"), 100)
	if msg != "" {
		return invalid(field{"limit", msg})
	}
	as, err := h.svc.WebhookAttempts(c.Request().Context(), c.Param("id"), limit)
	if err != nil {
		return err
	}
	out := deliveriesResponse{Deliveries: make([]deliveryResponse, len(as))}
	for i, a := range as {
		out.Deliveries[i] = deliveryResponse{EventID: a.EventID, AttemptedAt: a.AttemptedAt.UTC(),
			DurationMs: a.Duration.Milliseconds(), Error: a.Error}
		if a.Status != 0 {
			s := a.Status
			out.Deliveries[i].Status = &s
		}
	}
	return c.JSON(http.StatusOK, out)
}
