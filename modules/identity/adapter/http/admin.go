package http

import "github.com/labstack/echo/v4"

// RegisterAdmin mounts identity's routes of the administration API on admin, a group at
// /admin/v1 behind the platform's admin-key check (platform/admin).
func (h *Handlers) RegisterAdmin(admin *echo.Group) {
	h.registerWebhooks(admin)
}
