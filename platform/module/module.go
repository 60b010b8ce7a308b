// Package module is the contract between main and a bounded context (modules/*): what a
// module must offer to be wired into the binary. Adding a module is building it with its
// dependencies and appending it to the list in main.go.
package module

import (
	"context"

	"github.com/labstack/echo/v4"
)

// Module is one bounded context as main sees it.
type Module interface {
	// Name identifies the module in logs.
	Name() string
	// RegisterRoutes mounts the module's routes on the versioned API group (/v1).
	RegisterRoutes(api *echo.Group)
	// Workers returns the background loops the module needs; each runs until ctx ends
	// and then returns (nil on a clean stop).
	Workers() []Worker
	// Ready reports whether the module can serve; /readyz fails while any module is not.
	Ready(ctx context.Context) error
}

// Worker is a background loop.
type Worker func(ctx context.Context) error
