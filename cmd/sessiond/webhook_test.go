package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sqlite"
	"github.com/sessiond/sessiond/internal/webhook"
)

// TestWebhookCommands adds a webhook whose endpoint fails, lets its one
// delivery die, and uses the command line to find the dead letter, queue
// it again and, once the endpoint works, see it delivered; then removes
// the webhook.
func TestWebhookCommands(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hooks.db")
	env := map[string]string{"SESSIOND_DB": "sqlite:" + path}
	var healthy atomic.Bool
	var delivered atomic.Int32
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		delivered.Add(1)
	}))
	defer rcv.Close()

	if _, _, err := runCmd(t, env, "webhook", "add", "--tenant", "acme", "--url", rcv.URL); err == nil {
		t.Error("webhook add for an unknown tenant succeeded, want an error")
	}
	if _, errOut, err := runCmd(t, env, "webhook", "add", "--tenant", "acme", "--url", "ftp://example.com/"); err == nil {
		t.Error("webhook add of an ftp URL succeeded, want an error")
	} else if !strings.Contains(err.Error(), "http") {
		t.Errorf("webhook add of an ftp URL: got %v %s, want the URL rule", err, errOut)
	}
	if _, errOut, err := runCmd(t, env, "apikey", "create", "--name", "app", "--scopes", "sessions:write", "--tenant", "acme"); err != nil {
		t.Fatalf("apikey create: %v\n%s", err, errOut)
	}
	out, errOut, err := runCmd(t, env, "webhook", "add", "--tenant", "acme", "--url", rcv.URL+"/hook")
	if err != nil {
		t.Fatalf("webhook add: %v\n%s", err, errOut)
	}
	secret := strings.TrimSpace(out)
	if !regexp.MustCompile(`^whsec_[A-Za-z0-9_-]{43}$`).MatchString(secret) || strings.Count(out, "\n") != 1 {
		t.Fatalf("webhook add stdout = %q, want the secret alone on one line", out)
	}
	id := regexp.MustCompile(`wh_[0-9a-f]{16}`).FindString(errOut)
	if id == "" {
		t.Fatalf("webhook add stderr = %q, want the webhook ID", errOut)
	}
	list, _, err := runCmd(t, env, "webhook", "list")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(list, secret[6:]) || !strings.Contains(list, id) || !strings.Contains(list, rcv.URL+"/hook") {
		t.Errorf("webhook list = %q, want the webhook without its secret", list)
	}

	// A session starts; its event's one delivery fails and dies.
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now()
	clock := func() time.Time { return now }
	svc := sessions.NewService(st, sessions.DefaultConfig(), clock, nil)
	keys, err := st.ListAPIKeys(ctx)
	if err != nil || len(keys) != 1 {
		t.Fatalf("ListAPIKeys: %v", err)
	}
	if _, _, err := svc.Start(ctx, keys[0].TenantID, "alice", sessions.Activity{ClientID: "app"}); err != nil {
		t.Fatal(err)
	}
	w := webhook.New(st, webhook.Config{MaxAttempts: 1, Timeout: time.Second}, clock, slog.New(slog.DiscardHandler))
	if n, err := w.Round(ctx); err != nil || n != 0 {
		t.Fatalf("Round against a failing endpoint: got %d, %v; want 0", n, err)
	}
	dead, _, err := runCmd(t, env, "webhook", "dead-letters", "--webhook", id)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(dead, "session.started") || !strings.Contains(dead, "HTTP 500") || !strings.Contains(dead, "alice") {
		t.Errorf("webhook dead-letters = %q, want alice's session.started with HTTP 500", dead)
	}

	// Fixed endpoint, retried dead letter: delivered.
	healthy.Store(true)
	if n, err := w.Round(ctx); err != nil || n != 0 {
		t.Fatalf("Round before the retry: got %d, %v; want 0 (dead letters wait)", n, err)
	}
	if _, errOut, err := runCmd(t, env, "webhook", "retry", id); err != nil || !strings.Contains(errOut, "queued 1") {
		t.Fatalf("webhook retry: %v %q, want 1 queued", err, errOut)
	}
	now = now.Add(time.Minute) // the retry is due at the command's clock
	if n, err := w.Round(ctx); err != nil || n != 1 || delivered.Load() != 1 {
		t.Fatalf("Round after the retry: got %d, %v, %d received; want 1", n, err, delivered.Load())
	}
	if dead, _, _ := runCmd(t, env, "webhook", "dead-letters"); strings.Contains(dead, "session.started") {
		t.Errorf("webhook dead-letters after the retry = %q, want none", dead)
	}

	if _, _, err := runCmd(t, env, "webhook", "remove", id); err != nil {
		t.Fatalf("webhook remove: %v", err)
	}
	if list, _, _ := runCmd(t, env, "webhook", "list"); strings.Contains(list, id) {
		t.Errorf("webhook list after remove = %q, want it gone", list)
	}
	if _, _, err := runCmd(t, env, "webhook", "remove", id); err == nil {
		t.Error("removing a removed webhook succeeded, want an error")
	}
	if _, _, err := runCmd(t, env, "webhook", "retry"); err == nil {
		t.Error("webhook retry without an ID succeeded, want an error")
	}
}
