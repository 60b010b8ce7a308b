package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"riverqueue.com/riverui"
)

// Dashboard is River UI (riverqueue.com/riverui) over this job system: a web page that
// lists the jobs by state and kind (emails, event deliveries, maintenance) and retries or
// cancels them. Its built pages are embedded in the Go module; it reads and writes River's
// tables through the job system's client (schema river). It checks no credentials: the
// administration listener (platform/admin) serves it behind the admin key.
type Dashboard struct {
	handler *riverui.Handler
}

// Dashboard returns the dashboard served under prefix (such as "/admin/jobs"): its page
// at prefix+"/", its JSON API at prefix+"/api/". Start it before it serves.
func (j *Jobs) Dashboard(prefix string) (*Dashboard, error) {
	h, err := riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(j.client, nil),
		// A job's arguments are ids, never secrets (the package documentation); showing
		// them lets an operator find the email or delivery a job is about.
		JobListHideArgsByDefault: false,
		Logger:                   j.logger.With(slog.String("component", "jobs.dashboard")),
		Prefix:                   prefix,
	})
	if err != nil {
		return nil, fmt.Errorf("jobs dashboard: %w", err)
	}
	return &Dashboard{handler: h}, nil
}

// Start starts the dashboard's background work (River UI caches its job counts); it
// stops when ctx ends.
func (d *Dashboard) Start(ctx context.Context) error {
	if err := d.handler.Start(ctx); err != nil {
		return fmt.Errorf("jobs dashboard: %w", err)
	}
	return nil
}

// ServeHTTP serves the dashboard's page, assets and API.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.handler.ServeHTTP(w, r) }
