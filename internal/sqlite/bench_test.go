package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"testing"

	"github.com/sessiond/sessiond/internal/sessions"
)

// Benchmark data: the store holds n sessions in one tenant, heavyUser has
// heavySessions of them (the user whose pages are listed), the rest belong
// to users of 100 sessions each. A tenth of all sessions have ended.
const (
	benchNow      int64 = 1_700_000_000
	heavyUser           = "heavy-user"
	heavySessions       = 2000
)

// seed opens a store and fills it with n sessions in one transaction,
// written straight to the tables so that setup takes seconds, not minutes.
// It returns the store, the tenant and the session keys.
func seed(b *testing.B, n int) (*Store, int64, []string) {
	b.Helper()
	ctx := context.Background()
	st := open(b)
	k := &sessions.APIKey{ID: sessions.NewKeyID(), TenantName: "bench", Name: "bench", Scopes: []sessions.Scope{sessions.ScopeSessionsRead},
		Hash: sessions.HashAPIKey(sessions.NewAPIKeySecret()), CreatedAt: benchNow}
	if err := st.CreateAPIKey(ctx, k); err != nil {
		b.Fatal(err)
	}
	keys := make([]string, n)
	err := st.write(ctx, func(tx *sql.Tx) error {
		users, err := tx.PrepareContext(ctx, `INSERT INTO users (tenant_id, user_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		sess, err := tx.PrepareContext(ctx, `INSERT INTO sessions (tenant_id, user_id, session_id, session_key, client_ids,
			initiated_at, expires_at, last_updated, ip_address, user_agent, revoked_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		clients, err := tx.PrepareContext(ctx, `INSERT INTO session_clients (session, client_id) VALUES (?, ?)`)
		if err != nil {
			return err
		}
		for i := range n {
			user := heavyUser
			if i >= heavySessions {
				user = fmt.Sprintf("user-%d", i/100)
			}
			if _, err := users.ExecContext(ctx, k.TenantID, user, benchNow); err != nil {
				return err
			}
			ids := []string{"web"}
			if i%3 == 0 {
				ids = append(ids, "mobile")
			}
			initiated := benchNow - int64(i%5000)*60
			expires := benchNow + 86400 + int64(i%977)
			revoked := int64(0)
			if i%10 == 0 {
				revoked = benchNow - 1
			}
			keys[i] = sessions.SessionKey(sessions.NewToken())
			res, err := sess.ExecContext(ctx, k.TenantID, user, sessions.NewSessionID(), keys[i], clientsJSON(ids),
				initiated, expires, initiated+int64(i%7), "203.0.113.7", "Mozilla/5.0", revoked)
			if err != nil {
				return err
			}
			id, err := res.LastInsertId()
			if err != nil {
				return err
			}
			for _, c := range ids {
				if _, err := clients.ExecContext(ctx, id, c); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		b.Fatalf("seeding %d sessions: %v", n, err)
	}
	return st, k.TenantID, keys
}

var benchSizes = []int{10_000, 100_000}

// BenchmarkListSessions lists pages of one user's sessions: the API's
// default first page, a deep page, another sort and the client filter.
func BenchmarkListSessions(b *testing.B) {
	for _, n := range benchSizes {
		st, tid, _ := seed(b, n)
		for _, tc := range []struct {
			name string
			q    sessions.ListQuery
		}{
			{"initiated_at:-1/page=1", sessions.ListQuery{Sort: sessions.SortInitiatedAt, Desc: true, Page: 1, Size: sessions.DefaultPageSize}},
			{"initiated_at:-1/page=1/size=100", sessions.ListQuery{Sort: sessions.SortInitiatedAt, Desc: true, Page: 1, Size: sessions.MaxPageSize}},
			{"last_updated:1/page=50", sessions.ListQuery{Sort: sessions.SortLastUpdated, Page: 50, Size: sessions.DefaultPageSize}},
			{"expires_at:1/client=mobile/page=1", sessions.ListQuery{ClientID: "mobile", Sort: sessions.SortExpiresAt, Page: 1, Size: sessions.DefaultPageSize}},
			{"session_id:-1/client=mobile/page=20", sessions.ListQuery{ClientID: "mobile", Sort: sessions.SortSessionID, Desc: true, Page: 20, Size: sessions.DefaultPageSize}},
		} {
			q := tc.q
			q.TenantID, q.UserID, q.Now = tid, heavyUser, benchNow
			b.Run(fmt.Sprintf("sessions=%d/%s", n, tc.name), func(b *testing.B) {
				ctx := context.Background()
				for b.Loop() {
					page, _, err := st.ListSessions(ctx, q)
					if err != nil || len(page) == 0 {
						b.Fatalf("ListSessions: got %d sessions, %v", len(page), err)
					}
				}
			})
		}
		st.Close()
	}
}

// BenchmarkSessionByKey looks sessions up by key, as every validation does.
func BenchmarkSessionByKey(b *testing.B) {
	for _, n := range benchSizes {
		st, tid, keys := seed(b, n)
		b.Run(fmt.Sprintf("sessions=%d", n), func(b *testing.B) {
			ctx := context.Background()
			i := 0
			for b.Loop() {
				if _, err := st.SessionByKey(ctx, tid, keys[i%len(keys)]); err != nil {
					b.Fatal(err)
				}
				i += 7919 // a prime: hop around the table
			}
		})
		st.Close()
	}
}

// BenchmarkWrites measures the writes whose cost the indexes set: starting
// a session (with its first trail entry and event) and a touch, which
// moves expires_at and last_updated.
func BenchmarkWrites(b *testing.B) {
	const n = 100_000
	st, tid, keys := seed(b, n)
	defer st.Close()
	ctx := context.Background()
	b.Run(fmt.Sprintf("sessions=%d/create", n), func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			s := &sessions.Session{TenantID: tid, UserID: fmt.Sprintf("user-%d", i*7919%(n/100)), ID: sessions.NewSessionID(),
				Key: sessions.SessionKey(sessions.NewToken()), ClientIDs: []string{"web"}, InitiatedAt: benchNow, LastUpdated: benchNow, ExpiresAt: benchNow + 86400}
			if err := st.CreateSession(ctx, s, &sessions.ActivityEntry{At: benchNow, ClientID: "web"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(fmt.Sprintf("sessions=%d/touch", n), func(b *testing.B) {
		i := 0
		for b.Loop() {
			i++
			_, err := st.UpdateSession(ctx, tid, keys[i*7919%len(keys)], func(s *sessions.Session) (*sessions.ActivityEntry, error) {
				s.LastUpdated++
				s.ExpiresAt++
				return nil, nil
			}, 10)
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
