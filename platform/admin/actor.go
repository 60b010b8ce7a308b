// Package admin is the administration listener (ADMIN_ADDR): the admin keys, their
// check, the jobs dashboard, and the mount point of each module's administration routes
// (module.AdminRouter).
package admin

import "github.com/labstack/echo/v4"

// actorKey is where the key check leaves the name of the key that authenticated the
// request.
const actorKey = "admin.actor"

// SetActor records name, the admin key's name, as the actor of the request c.
func SetActor(c echo.Context, name string) { c.Set(actorKey, name) }

// Actor is the name of the admin key that authenticated the request c ("" when none
// did): the data.actor of every account event an administrator causes.
func Actor(c echo.Context) string {
	name, _ := c.Get(actorKey).(string)
	return name
}
