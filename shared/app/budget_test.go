package app_test

import (
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/shared/app"
	"github.com/pg2s3/pg2s3/shared/config"
)

// TestRunDeadline: max_run_seconds and a caller's deadline bound a run
// together, the earlier winning, and resolving an already resolved
// deadline again later never extends it (a drain's initial copies share
// the drain's budget).
func TestRunDeadline(t *testing.T) {
	limited := &app.App{Cfg: &config.Config{MaxRunDuration: time.Minute}}
	unlimited := &app.App{Cfg: &config.Config{}}
	soon, late := time.Now().Add(10*time.Second), time.Now().Add(time.Hour)
	if got := unlimited.RunDeadline(time.Time{}); !got.IsZero() {
		t.Errorf("no limit anywhere: deadline %s; want none", got)
	}
	if got := unlimited.RunDeadline(soon); !got.Equal(soon) {
		t.Errorf("a caller's deadline alone: %s; want %s", got, soon)
	}
	if got := limited.RunDeadline(soon); !got.Equal(soon) {
		t.Errorf("a caller's deadline before max_run_seconds: %s; want %s", got, soon)
	}
	first := limited.RunDeadline(late)
	if left := time.Until(first); left > time.Minute || left < 50*time.Second {
		t.Errorf("max_run_seconds 60 before a caller's hour: %s left; want about a minute", left)
	}
	time.Sleep(10 * time.Millisecond)
	if again := limited.RunDeadline(first); !again.Equal(first) {
		t.Errorf("resolving %s again gave %s; a run's budget must not restart", first, again)
	}
}
