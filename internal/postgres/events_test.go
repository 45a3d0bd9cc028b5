package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/sessions"
)

// TestFeedWaitsForWritersInProgress holds an event-recording transaction
// open (its seq drawn, not committed) while another writer commits a later
// seq. Writers must not wait for each other, and a reader of the feed must
// neither skip the early event nor show the later one first: it waits for
// the open transaction, then sees both in seq order.
func TestFeedWaitsForWritersInProgress(t *testing.T) {
	for _, reader := range []string{"ListEvents", "FanOut"} {
		t.Run(reader, func(t *testing.T) {
			ctx := context.Background()
			u, app := lockTestURL(t)
			s := open(t, u, postgres.Options{})
			tid := tenant(t, s, "acme")
			if err := s.CreateWebhook(ctx, &sessions.Webhook{ID: "wh_1", TenantName: "acme",
				URL: "http://127.0.0.1:1/hook", Secret: "secret", CreatedAt: now}); err != nil {
				t.Fatalf("CreateWebhook: %v", err)
			}

			// A writer on another node, stopped between its insert and
			// its commit.
			early := newSession(tid, "alice")
			other := connectTo(t, withParam(t, u, "application_name", "other-node"))
			tx, err := other.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx)
			var b pgx.Batch
			s.QueueEvents(&b, sessions.StartedEvent(early))
			if err := tx.SendBatch(ctx, &b).Close(); err != nil {
				t.Fatalf("writing the early event: %v", err)
			}

			// A later writer draws a higher seq and commits first; it
			// must not wait for the open transaction.
			late := newSession(tid, "bob")
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := s.CreateSession(cctx, late, nil); err != nil {
				t.Fatalf("CreateSession while another writer is in progress: %v", err)
			}

			// The reader waits for the open transaction.
			var ids []string
			done := make(chan error, 1)
			go func() {
				switch reader {
				case "ListEvents":
					es, err := s.ListEvents(ctx, tid, 0, 10)
					for _, e := range es {
						ids = append(ids, e.SessionID)
					}
					done <- err
				case "FanOut":
					if _, err := s.FanOut(ctx, now, 10); err != nil {
						done <- err
						return
					}
					ds, err := s.ListDeliveries(ctx, "wh_1", sessions.DeliveryPending, 10)
					for _, d := range ds {
						ids = append(ids, d.Event.SessionID)
					}
					done <- err
				}
			}()
			waitForLockWait(t, app, done)
			if err := tx.Commit(ctx); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatalf("%s: %v", reader, err)
			}
			if want := []string{early.ID, late.ID}; !slices.Equal(ids, want) {
				t.Errorf("%s: got the events of sessions %v, want %v (the early one first)", reader, ids, want)
			}
		})
	}
}
