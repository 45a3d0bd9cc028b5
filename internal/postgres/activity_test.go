package postgres_test

import (
	"context"
	"testing"

	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/internal/sessions"
)

// TestTrailLeavesNoRows checks that erasing a user and purging a session
// delete their trails' rows, which the store interface cannot see.
func TestTrailLeavesNoRows(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	s := open(t, u, postgres.Options{})
	tid := tenant(t, s, "acme")
	var bobs *sessions.Session
	for _, user := range []string{"alice", "alice", "bob"} {
		x := newSession(tid, user, "web")
		x.ExpiresAt = now + 10
		if err := s.CreateSession(ctx, x, &sessions.ActivityEntry{At: now, ClientID: "web"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateSession(ctx, tid, x.Key, func(*sessions.Session) (*sessions.ActivityEntry, error) {
			return &sessions.ActivityEntry{At: now + 1, ClientID: "mobile"}, nil
		}, 10); err != nil {
			t.Fatal(err)
		}
		bobs = x
	}
	conn := connectTo(t, u)
	count := func() int {
		t.Helper()
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM session_activity").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 6 {
		t.Fatalf("session_activity before: got %d rows, want 6", n)
	}
	if err := s.DeleteUser(ctx, tid, "alice", 0); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Errorf("session_activity after erasing alice: got %d rows, want bob's 2", n)
	}
	if _, err := s.EmitExpired(ctx, bobs.ExpiresAt+1, 10, func(*sessions.Session) sessions.EndReason { return sessions.ReasonExpiredIdle }); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PurgeSessions(ctx, bobs.ExpiresAt+1, 10); err != nil || n != 1 {
		t.Fatalf("PurgeSessions: got %d, %v; want 1", n, err)
	}
	if n := count(); n != 0 {
		t.Errorf("session_activity after purging bob's session: got %d rows, want 0", n)
	}
}

// TestUpgradeKeepsSessions migrates a schema made by the first version,
// with a session in it, and checks that the session reads back with no
// past and takes trail entries.
func TestUpgradeKeepsSessions(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	conn := connectTo(t, u)
	const key = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)`,
		postgres.MigrationSQL(1),
		`INSERT INTO schema_migrations VALUES (1, '0001_init.sql', 1)`,
		`INSERT INTO tenants (id, name, created_at) VALUES (1, 'acme', 1)`,
		`INSERT INTO users VALUES (1, 'alice', 1)`,
		`INSERT INTO sessions (tenant_id, user_id, session_id, session_key, client_ids, initiated_at, expires_at, last_updated, ip_address)
			VALUES (1, 'alice', '0123456789ABCDEF0123456789ABCDEF', '` + key + `', '{web}', 1, 1000, 1, '192.0.2.1')`,
	} {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	s := open(t, u, postgres.Options{})
	got, err := s.SessionByKey(ctx, 1, key)
	if err != nil {
		t.Fatalf("SessionByKey after the upgrade: %v", err)
	}
	if got.Countries != nil || got.LastLocated != nil || got.ClientIDs[0] != "web" {
		t.Errorf("session after the upgrade: got clients %q, countries %q, last located %v; want [web], none, nil",
			got.ClientIDs, got.Countries, got.LastLocated)
	}
	e := &sessions.ActivityEntry{At: 2, ClientID: "web", NewCountry: true}
	if _, err := s.UpdateSession(ctx, 1, key, func(x *sessions.Session) (*sessions.ActivityEntry, error) {
		x.Countries = []string{"France"}
		return e, nil
	}, 10); err != nil {
		t.Fatalf("UpdateSession after the upgrade: %v", err)
	}
	trail, total, err := s.ListActivity(ctx, 1, "alice", got.ID, 2, 1, 10)
	if err != nil || total != 1 || len(trail) != 1 || *trail[0] != *e {
		t.Errorf("ListActivity after the upgrade: got %v, total %d, %v; want the one entry", trail, total, err)
	}
}
