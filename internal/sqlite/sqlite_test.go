package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/storetest"
)

// open opens a store on a new file in t's temporary directory.
func open(t testing.TB) *Store {
	t.Helper()
	st, err := Open(context.Background(), filepath.Join(t.TempDir(), "sessiond.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sessions.Store { return open(t) })
}

// explain returns the lines of the query plan of query.
func explain(t *testing.T, st *Store, query string, args []any) []string {
	t.Helper()
	rows, err := st.reader.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatalf("EXPLAIN QUERY PLAN: %v\n%s", err, query)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// badPlan returns the first step of plan that reads a whole table or sorts.
func badPlan(plan []string) string {
	for _, step := range plan {
		fullScan := strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, " INDEX ") && step != "SCAN CONSTANT ROW"
		if fullScan || strings.Contains(step, "TEMP B-TREE") {
			return step
		}
	}
	return ""
}

// TestListQueryPlans checks that every list and count query, of active
// and of ended sessions, walks an index in the requested order: no full
// scan, no sort of the user's sessions.
func TestListQueryPlans(t *testing.T) {
	st := open(t)
	for _, status := range []sessions.Status{sessions.StatusActive, sessions.StatusEnded} {
		for _, field := range sessions.SortFields {
			for _, desc := range []bool{false, true} {
				for _, client := range []string{"", "web"} {
					q := sessions.ListQuery{TenantID: 1, UserID: "u", Status: status, ClientID: client, Sort: field, Desc: desc, Page: 3, Size: 10, Now: 1}
					name := fmt.Sprintf("%s %s desc=%v client=%q", status, field, desc, client)
					query, args, err := listQuery(q)
					if err != nil {
						t.Fatalf("%s: listQuery: %v", name, err)
					}
					plan := explain(t, st, query, args)
					t.Logf("%s: %q", name, plan)
					if step := badPlan(plan); step != "" {
						t.Errorf("%s: list plan has %q, want index walks only; plan %q", name, step, plan)
					}
					if idx := "sessions_by_user_" + string(field); !strings.Contains(strings.Join(plan, "\n"), idx) {
						t.Errorf("%s: list plan %q does not use %s", name, plan, idx)
					}
					if client != "" && !strings.Contains(strings.Join(plan, "\n"), "session_clients USING PRIMARY KEY") &&
						!strings.Contains(strings.Join(plan, "\n"), "c USING PRIMARY KEY") {
						t.Errorf("%s: list plan %q does not probe session_clients by key", name, plan)
					}
					cq, cargs := countQuery(q)
					cplan := explain(t, st, cq, cargs)
					if step := badPlan(cplan); step != "" {
						t.Errorf("%s: count plan has %q, want index walks only", name, step)
					}
					if idx := "INDEX sessions_by_user_expires_at (tenant_id=? AND user_id=?"; !strings.Contains(strings.Join(cplan, "\n"), idx) {
						t.Errorf("%s: count plan %q does not use %s", name, cplan, idx)
					}
				}
			}
		}
	}
}

// TestBulkQueryPlans checks the queries of a bulk revocation: the sample
// and the batches walk an index in session ID order (the user's when the
// filter has a user), so that a batch stops after its last row and never
// sorts; counting a user's matches is led by a per-user index.
func TestBulkQueryPlans(t *testing.T) {
	st := open(t)
	for _, f := range []sessions.BulkFilter{
		{UserID: "u"},
		{UserID: "u", ClientID: "web", Country: "France", IdleLongerThan: 60, StartedBefore: 10, After: "00000000000000000000000000000000"},
		{ClientID: "web"},
		{Country: "France", IdleLongerThan: 60, After: "00000000000000000000000000000000"},
	} {
		cq, cargs := matchCountQuery(1, f, 1)
		sq, sargs := matchSampleQuery(1, f, 1, 10)
		rq, rargs := revokeMatchingQuery(1, f, 1, "key_1", 500)
		for _, q := range []struct {
			name, query string
			args        []any
		}{{"count", cq, cargs}, {"sample", sq, sargs}, {"revoke", rq, rargs}} {
			name := fmt.Sprintf("%s %+v", q.name, f)
			plan := explain(t, st, q.query, q.args)
			t.Logf("%s: %q", name, plan)
			if step := badPlan(plan); step != "" {
				t.Errorf("%s: plan has %q; plan %q", name, step, plan)
			}
			index := "sessions_by_user_"
			if q.name != "count" {
				index = walkIndex(f)
			}
			if (f.UserID != "" || q.name != "count") && !strings.Contains(strings.Join(plan, "\n"), index) {
				t.Errorf("%s: plan %q is not led by %s", name, plan, index)
			}
		}
	}
}

// TestQueryPlans checks that the queries that touch many sessions walk an
// index: the purge, the global count and the lookups by key and ID.
func TestQueryPlans(t *testing.T) {
	st := open(t)
	for _, tc := range []struct {
		name, query string
		args        []any
		index       string
	}{
		{"purge revoked", purgeQueries[0], []any{1, 10}, "sessions_by_revoked_at"},
		{"purge expired", purgeQueries[1], []any{1, 10}, "sessions_purgeable"},
		{"expired without an event", expiredQuery, []any{1, 10}, "sessions_expiry_pending"},
		{"events feed", listEventsQuery, []any{1, 0, 10}, "events_by_tenant (tenant_id=? AND seq>?)"},
		{"purge events", `SELECT seq FROM events WHERE occurred_at < ? ORDER BY occurred_at LIMIT ?`, []any{1, 10}, "events_by_time"},
		{"count active", countActiveQuery, []any{1}, "COVERING INDEX sessions_by_expires_at"},
		{"by key", sessionByKeyQuery, []any{"K", 1}, "(session_key=?)"},
		{"by ID", getSessionQuery, []any{"I", 1, "u", 1}, "(session_id=?)"},
		{"active session of a user", activeSessionQuery, []any{"I", 1, "u", 1}, "(session_id=?)"},
		{"count activity", countActivityQuery, []any{1}, "COVERING INDEX session_activity_by_session (session=?)"},
		{"list activity", listActivityQuery, []any{1, 10, 20}, "INDEX session_activity_by_session (session=?)"},
		{"trim activity", trimActivityQuery, []any{1, 100}, "COVERING INDEX session_activity_by_session (session=? AND seq<?)"},
	} {
		plan := explain(t, st, tc.query, tc.args)
		t.Logf("%s: %q", tc.name, plan)
		if step := badPlan(plan); step != "" {
			t.Errorf("%s: plan has %q, want index walks only; plan %q", tc.name, step, plan)
		}
		if !strings.Contains(strings.Join(plan, "\n"), tc.index) {
			t.Errorf("%s: plan %q does not use %s", tc.name, plan, tc.index)
		}
	}
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sessiond.db")
	st, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	k := &sessions.APIKey{ID: sessions.NewKeyID(), TenantName: "acme", Name: "k", Scopes: []sessions.Scope{sessions.ScopeSessionsRead},
		Hash: sessions.HashAPIKey(sessions.NewAPIKeySecret()), CreatedAt: 1}
	if err := st.CreateAPIKey(ctx, k); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	s := &sessions.Session{TenantID: k.TenantID, UserID: "alice", ID: sessions.NewSessionID(), Key: sessions.SessionKey(sessions.NewToken()),
		ClientIDs: []string{"web"}, InitiatedAt: 1, ExpiresAt: 100, LastUpdated: 1}
	if err := st.CreateSession(ctx, s, nil); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	applied := func(st *Store) string {
		t.Helper()
		rows, err := st.reader.QueryContext(ctx, `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var v, at int64
			if err := rows.Scan(&v, &at); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%d@%d", v, at))
		}
		return strings.Join(out, ",")
	}
	before := applied(st)
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	st, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("re-Open: %v", err)
	}
	defer st.Close()
	if after := applied(st); after != before {
		t.Errorf("schema_migrations after re-open: got %s, want %s", after, before)
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(before, ",") + 1; got != len(ms) {
		t.Errorf("schema_migrations: got %d rows, want %d", got, len(ms))
	}
	if n, err := migrate(ctx, st.writer); err != nil || n != 0 {
		t.Errorf("migrate on an up-to-date database: got %d applied, %v, want 0, nil", n, err)
	}
	got, err := st.SessionByKey(ctx, k.TenantID, s.Key)
	if err != nil {
		t.Fatalf("SessionByKey after re-open: %v", err)
	}
	if got.ID != s.ID || got.ClientIDs[0] != "web" {
		t.Errorf("SessionByKey after re-open: got %+v, want %+v", got, s)
	}
	if _, err := st.APIKeyByHash(ctx, k.Hash); err != nil {
		t.Errorf("APIKeyByHash after re-open: %v", err)
	}
}

// TestPragmas checks that every pooled connection, not only the first, has
// the settings of the DSN.
func TestPragmas(t *testing.T) {
	st := open(t)
	ctx := t.Context()
	want := map[string]string{
		"journal_mode": "wal",
		"foreign_keys": "1",
		"synchronous":  "1", // NORMAL
		"busy_timeout": fmt.Sprint(busyTimeoutMS),
	}
	for _, tc := range []struct {
		name  string
		db    *sql.DB
		conns int
	}{
		{"writer", st.writer, 1},
		{"reader", st.reader, 3},
	} {
		// Hold the connections at once so that each is a distinct one.
		for i := range tc.conns {
			c, err := tc.db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			for pragma, w := range want {
				var got string
				if err := c.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
					t.Fatal(err)
				}
				if got != w {
					t.Errorf("%s connection %d: got PRAGMA %s = %s, want %s", tc.name, i, pragma, got, w)
				}
			}
		}
	}
	if got := st.writer.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer pool: got %d max connections, want 1", got)
	}
	if _, err := st.reader.ExecContext(ctx, `DELETE FROM users`); err == nil {
		t.Errorf("a write through the reader pool: got nil error, want query_only to refuse it")
	}
}

func TestUnavailable(t *testing.T) {
	ctx := t.Context()
	_, err := Open(ctx, filepath.Join(t.TempDir(), "missing", "dir", "sessiond.db"))
	if code := sessions.ErrorCode(err); code != sessions.EUNAVAILABLE {
		t.Errorf("Open in a missing directory: got %v (code %q), want %q", err, code, sessions.EUNAVAILABLE)
	}

	st := open(t)
	st.Close()
	s := &sessions.Session{TenantID: 1, UserID: "u", ID: sessions.NewSessionID(), Key: sessions.SessionKey(sessions.NewToken()), ClientIDs: []string{"a"}}
	_, _, listErr := st.ListSessions(ctx, sessions.ListQuery{TenantID: 1, UserID: "u", Sort: sessions.SortInitiatedAt, Page: 1, Size: 10})
	_, byKeyErr := st.SessionByKey(ctx, 1, s.Key)
	_, countErr := st.CountActiveSessions(ctx, 0)
	for name, err := range map[string]error{
		"Ping":                st.Ping(ctx),
		"CreateSession":       st.CreateSession(ctx, s, nil),
		"ListSessions":        listErr,
		"SessionByKey":        byKeyErr,
		"CountActiveSessions": countErr,
	} {
		if code := sessions.ErrorCode(err); code != sessions.EUNAVAILABLE {
			t.Errorf("%s after Close: got %v (code %q), want %q", name, err, code, sessions.EUNAVAILABLE)
		}
	}
}

func TestOpenRejectsNonFiles(t *testing.T) {
	for _, path := range []string{"", ":memory:", "file:x.db", filepath.Join(t.TempDir(), "a?b.db")} {
		if st, err := Open(t.Context(), path); err == nil {
			st.Close()
			t.Errorf("Open(%q): got nil error, want one", path)
		}
	}
	if _, err := os.Stat("file:x.db"); err == nil {
		t.Errorf("Open(file:x.db) created a file")
	}
}

// TestDeleteUserLeavesNoRows checks the cascades down to session_clients
// and session_activity, which the store interface cannot see.
func TestDeleteUserLeavesNoRows(t *testing.T) {
	st := open(t)
	ctx := t.Context()
	k := &sessions.APIKey{ID: sessions.NewKeyID(), TenantName: "acme", Name: "k", Scopes: []sessions.Scope{sessions.ScopeSessionsRead},
		Hash: sessions.HashAPIKey(sessions.NewAPIKeySecret())}
	if err := st.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	for _, user := range []string{"alice", "alice", "bob"} {
		s := &sessions.Session{TenantID: k.TenantID, UserID: user, ID: sessions.NewSessionID(), Key: sessions.SessionKey(sessions.NewToken()),
			ClientIDs: []string{"web", "mobile"}, ExpiresAt: 1000}
		if err := st.CreateSession(ctx, s, &sessions.ActivityEntry{ClientID: "web"}); err != nil {
			t.Fatal(err)
		}
		_, err := st.UpdateSession(ctx, k.TenantID, s.Key, func(*sessions.Session) (*sessions.ActivityEntry, error) {
			return &sessions.ActivityEntry{At: 1, ClientID: "mobile"}, nil
		}, 10)
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := st.DeleteUser(ctx, k.TenantID, "alice", 0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.EmitExpired(ctx, 2000, 10, func(*sessions.Session) sessions.EndReason { return sessions.ReasonExpiredIdle }); err != nil {
		t.Fatal(err)
	}
	if n, _ := st.PurgeSessions(ctx, 2000, 10); n != 1 {
		t.Errorf("PurgeSessions: got %d, want 1 (bob's)", n)
	}
	for _, table := range []string{"session_clients", "session_activity"} {
		var n int
		if err := st.reader.QueryRowContext(ctx, `SELECT count(*) FROM `+table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("%s after erasing alice and purging bob's session: got %d rows, want 0", table, n)
		}
	}
}

// TestUpgradeKeepsSessions opens a database made by the first schema
// version, with a session in it, and checks that the session survives the
// later migrations: it reads back with no past, and takes trail entries.
func TestUpgradeKeepsSessions(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sessiond.db")
	old, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)")
	if err != nil {
		t.Fatal(err)
	}
	first, err := migrationFS.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	const key = "0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`,
		string(first),
		`INSERT INTO schema_migrations VALUES (1, 1)`,
		`INSERT INTO tenants (id, name, created_at) VALUES (1, 'acme', 1)`,
		`INSERT INTO users VALUES (1, 'alice', 1)`,
		`INSERT INTO sessions (tenant_id, user_id, session_id, session_key, client_ids, initiated_at, expires_at, last_updated, ip_address)
			VALUES (1, 'alice', '0123456789ABCDEF0123456789ABCDEF', '` + key + `', '["web"]', 1, 1000, 1, '192.0.2.1')`,
	} {
		if _, err := old.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	old.Close()

	st, err := Open(ctx, path)
	if err != nil {
		t.Fatalf("Open of a version-1 database: %v", err)
	}
	defer st.Close()
	got, err := st.SessionByKey(ctx, 1, key)
	if err != nil {
		t.Fatalf("SessionByKey after the upgrade: %v", err)
	}
	if got.Countries != nil || got.LastLocated != nil || got.ClientIDs[0] != "web" {
		t.Errorf("session after the upgrade: got clients %q, countries %q, last located %v; want [web], none, nil",
			got.ClientIDs, got.Countries, got.LastLocated)
	}
	e := &sessions.ActivityEntry{At: 2, ClientID: "web", NewCountry: true}
	if _, err := st.UpdateSession(ctx, 1, key, func(s *sessions.Session) (*sessions.ActivityEntry, error) {
		s.Countries = []string{"France"}
		return e, nil
	}, 10); err != nil {
		t.Fatalf("UpdateSession after the upgrade: %v", err)
	}
	trail, total, err := st.ListActivity(ctx, 1, "alice", got.ID, 2, 1, 10)
	if err != nil || total != 1 || len(trail) != 1 || *trail[0] != *e {
		t.Errorf("ListActivity after the upgrade: got %v, total %d, %v; want the one entry", trail, total, err)
	}
}
