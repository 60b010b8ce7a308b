package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/acme/identity/platform/poll"
)

// browserDir holds the browser test's node script and its locked dependencies
// (playwright-core); `npm ci` there installs them.
const browserDir = "test/browser"

// chromiumPath is Debian's Chromium (apt-get install chromium); CHROMIUM overrides it.
func chromiumPath() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// browserPrerequisites reports what the browser test lacks: node, Chromium, or the
// script's node_modules.
func browserPrerequisites() error {
	var missing []string
	if _, err := exec.LookPath("node"); err != nil {
		missing = append(missing, "node (apt-get install -y nodejs)")
	}
	if _, err := os.Stat(chromiumPath()); err != nil {
		missing = append(missing, chromiumPath()+" (apt-get install -y chromium)")
	}
	if _, err := os.Stat(filepath.Join(browserDir, "node_modules", "playwright-core", "package.json")); err != nil {
		missing = append(missing, "playwright-core (cd "+browserDir+" && npm ci)")
	}
	if len(missing) > 0 {
		return errors.New("the browser test needs " + strings.Join(missing, ", "))
	}
	return nil
}

// TestJobsDashboardInABrowser opens the jobs dashboard in headless Chromium, driven by
// Playwright (test/browser/dashboard.mjs): with the admin key as the Basic password it
// lists the email job a registration queued; without a key, 401 with a Basic challenge.
// It skips only on a developer's machine without Chromium or the script's dependencies;
// in CI (CI set, as .ci/run runs, which installs them) a missing one fails it.
func TestJobsDashboardInABrowser(t *testing.T) {
	if err := browserPrerequisites(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%v; CI runs this test (.ci/run installs them)", err)
		}
		t.Skipf("%v; CI never skips this test", err)
	}
	t.Parallel()
	ts := adminServing(t, serverConfig{})
	key := createAdminKey(t, ts.DatabaseURL, "browser")
	wantStatus(t, ts.register(t, "alice@example.com", pw), 201)
	ts.Mail.waitFor(t, "alice@example.com", 1)
	// The email's job is completed once the email left: the page lists it among the
	// completed jobs.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, ts.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	poll.Until(t, 10*time.Second, "the email's job is completed", func() bool {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM river.river_job WHERE kind = 'outbox.email' AND state = 'completed'`).Scan(&n)
		return err == nil && n == 1
	})

	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "dashboard.mjs")
	cmd.Dir = browserDir
	cmd.Env = append(os.Environ(), "ADMIN_URL="+ts.admin(t), "ADMIN_KEY="+key, "JOB_KIND=outbox.email", "CHROMIUM="+chromiumPath())
	out, err := cmd.CombinedOutput()
	t.Logf("dashboard.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("the browser test failed: %v", err)
	}
	for _, want := range []string{"ok with the key", "ok without a key"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dashboard.mjs did not report %q", want)
		}
	}
}
