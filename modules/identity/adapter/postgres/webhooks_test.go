package postgres

import (
	"testing"
	"time"
)

// TestWebhookRetriesLastThreeDays: the retry schedule of a delivery keeps trying for at
// least 3 days however the jitter falls, doubling from 5 s, never more than 8 h apart.
func TestWebhookRetriesLastThreeDays(t *testing.T) {
	var shortest, longest time.Duration
	for attempt := 1; attempt < WebhookMaxAttempts; attempt++ {
		lo, hi := WebhookRetryDelay(attempt, 0.999999), WebhookRetryDelay(attempt, 0)
		if lo > hi || hi > webhookMaxRetry || lo < 4*time.Second {
			t.Errorf("attempt %d: delay from %s to %s", attempt, lo, hi)
		}
		if attempt > 1 && hi < WebhookRetryDelay(attempt-1, 0) {
			t.Errorf("attempt %d: the delay shrank", attempt)
		}
		shortest += lo
		longest += hi
	}
	if shortest < 72*time.Hour {
		t.Errorf("the shortest schedule lasts %s, less than 3 days", shortest)
	}
	if longest > 96*time.Hour {
		t.Errorf("the longest schedule lasts %s; more than 4 days", longest)
	}
	if d := WebhookRetryDelay(1, 0); d != 5*time.Second {
		t.Errorf("first retry after %s, want 5s", d)
	}
	t.Logf("%d attempts over %s to %s", WebhookMaxAttempts, shortest, longest)
}
