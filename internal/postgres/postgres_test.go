package postgres_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/postgres/pgtest"
	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/storetest"
)

// now is the fake time of these tests, in Unix seconds.
const now = 1_700_000_000

// connectTo returns a plain connection to the schema of a pgtest URL,
// closed when the test ends.
func connectTo(t *testing.T, rawURL string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), rawURL)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// withParam returns rawURL with one more query parameter.
func withParam(t *testing.T, rawURL, name, value string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set(name, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func open(t *testing.T, rawURL string, opts postgres.Options) *postgres.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), rawURL, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ptr(s string) *string { return &s }

// newSession returns a session of user in tenant, active at now.
func newSession(tenantID int64, user string, clients ...string) *sessions.Session {
	token := sessions.NewToken()
	return &sessions.Session{
		TenantID:     tenantID,
		UserID:       user,
		ID:           sessions.NewSessionID(),
		Key:          sessions.SessionKey(token),
		ClientIDs:    clients,
		InitiatedAt:  now - 100,
		ExpiresAt:    now + 3600,
		LastUpdated:  now - 100,
		LastMetadata: sessions.Metadata{IPAddress: ptr("192.0.2.1"), UserAgent: ptr("test")},
	}
}

// tenant creates an API key, and with it a tenant, and returns its ID.
func tenant(t *testing.T, s *postgres.Store, name string) int64 {
	t.Helper()
	secret := sessions.NewAPIKeySecret()
	k := &sessions.APIKey{
		ID:         sessions.NewKeyID(),
		TenantName: name,
		Name:       "test",
		Scopes:     sessions.Scopes,
		Hash:       sessions.HashAPIKey(secret),
		CreatedAt:  now,
	}
	if err := s.CreateAPIKey(context.Background(), k); err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	return k.TenantID
}

func create(t *testing.T, s *postgres.Store, x *sessions.Session) {
	t.Helper()
	if err := s.CreateSession(context.Background(), x, nil); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := sessions.ErrorCode(err); got != code {
		t.Fatalf("%s: got error %v (code %q), want code %q", what, err, got, code)
	}
}

// TestStore runs the contract suite that every store passes.
func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) sessions.Store { return pgtest.Open(t) })
}

// TestRoundTrip is a quick check of each method against a real database;
// the contract suite checks the semantics in depth.
func TestRoundTrip(t *testing.T) {
	s := pgtest.Open(t)
	ctx := context.Background()
	tid := tenant(t, s, "acme")
	if tid2 := tenant(t, s, "acme"); tid2 != tid {
		t.Fatalf("second key of tenant acme: got tenant %d, want %d", tid2, tid)
	}
	x := newSession(tid, "alice", "app-1", "app-1")
	create(t, s, x)

	got, err := s.SessionByKey(ctx, tid, x.Key)
	if err != nil {
		t.Fatalf("SessionByKey: %v", err)
	}
	if want := []string{"app-1"}; !slices.Equal(got.ClientIDs, want) {
		t.Errorf("ClientIDs: got %v, want %v", got.ClientIDs, want)
	}
	if got.LastMetadata.IPAddress == nil || *got.LastMetadata.IPAddress != "192.0.2.1" || got.LastMetadata.Country != nil {
		t.Errorf("LastMetadata: got %+v, want IP 192.0.2.1 and no country", got.LastMetadata)
	}

	up, err := s.UpdateSession(ctx, tid, x.Key, func(cur *sessions.Session) (*sessions.ActivityEntry, error) {
		cur.ClientIDs = append(cur.ClientIDs, "app-2")
		cur.LastUpdated = now
		cur.ExpiresAt = now + 7200
		cur.LastMetadata.Country = ptr("Iceland")
		return nil, nil
	}, 10)
	if err != nil {
		t.Fatalf("UpdateSession: %v", err)
	}
	if want := []string{"app-1", "app-2"}; !slices.Equal(up.ClientIDs, want) {
		t.Errorf("updated ClientIDs: got %v, want %v", up.ClientIDs, want)
	}

	page, total, err := s.ListSessions(ctx, sessions.ListQuery{
		TenantID: tid, UserID: "alice", ClientID: "app-2", Sort: sessions.SortInitiatedAt, Desc: true, Page: 1, Size: 10, Now: now,
	})
	if err != nil || total != 1 || len(page) != 1 || page[0].ExpiresAt != now+7200 || *page[0].LastMetadata.Country != "Iceland" {
		t.Fatalf("ListSessions by app-2: got %d sessions of %d, %v; want the updated session", len(page), total, err)
	}
	if _, _, err := s.ListSessions(ctx, sessions.ListQuery{TenantID: tid, UserID: "bob", Sort: sessions.SortSessionID, Page: 1, Size: 10, Now: now}); sessions.ErrorCode(err) != sessions.ENOTFOUND {
		t.Errorf("ListSessions of unknown user: got %v, want ENOTFOUND", err)
	}
	if err := s.CreateSession(ctx, x, nil); sessions.ErrorCode(err) != sessions.ECONFLICT {
		t.Errorf("CreateSession again: got %v, want ECONFLICT", err)
	}
	if n, err := s.CountActiveSessions(ctx, now); err != nil || n != 1 {
		t.Errorf("CountActiveSessions: got %d, %v; want 1", n, err)
	}
	if err := s.RevokeSessionByKey(ctx, tid, x.Key, now, "key_1"); err != nil {
		t.Fatalf("RevokeSessionByKey: %v", err)
	}
	if err := s.RevokeSessionByKey(ctx, tid, x.Key, now+1, "key_1"); err != nil {
		t.Fatalf("RevokeSessionByKey of a revoked session: %v", err)
	}
	if got, _ := s.SessionByKey(ctx, tid, x.Key); got == nil || got.RevokedAt != now {
		t.Fatalf("RevokedAt: got %+v, want %d", got, now)
	}
	wantCode(t, "RevokeSessionByKey of unknown key", s.RevokeSessionByKey(ctx, tid, "00", now, "key_1"), sessions.ENOTFOUND)
	wantCode(t, "GetSession of revoked session", func() error { _, err := s.GetSession(ctx, tid, "alice", x.ID, now); return err }(), sessions.ENOTFOUND)
	if n, err := s.PurgeSessions(ctx, now+1, 10); err != nil || n != 1 {
		t.Errorf("PurgeSessions: got %d, %v; want 1", n, err)
	}
	if err := s.DeleteUser(ctx, tid, "alice", 0); err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	wantCode(t, "DeleteUser again", s.DeleteUser(ctx, tid, "alice", 0), sessions.ENOTFOUND)
}

// TestMigrateConcurrently starts two stores on one empty schema at once, as
// two nodes of a fresh deployment do: both must start, and the migrations
// must have run once.
func TestMigrateConcurrently(t *testing.T) {
	u := pgtest.URL(t)
	const nodes = 3
	var wg sync.WaitGroup
	errs := make([]error, nodes)
	for i := range nodes {
		wg.Go(func() {
			s, err := postgres.Open(context.Background(), u, postgres.Options{})
			errs[i] = err
			if err == nil {
				s.Close()
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: Open: %v", i, err)
		}
	}
	conn := connectTo(t, u)
	var rows, versions int
	if err := conn.QueryRow(context.Background(),
		"SELECT count(*), count(DISTINCT version) FROM schema_migrations").Scan(&rows, &versions); err != nil {
		t.Fatal(err)
	}
	if want := postgres.MigrationCount(); rows != want || versions != want {
		t.Errorf("schema_migrations: got %d rows of %d versions, want %d of %d", rows, versions, want, want)
	}
	// And a later start finds nothing to do.
	s := open(t, u, postgres.Options{})
	if err := s.Ping(context.Background()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestOpenRejects(t *testing.T) {
	tests := []struct {
		name, url, code string
	}{
		{"other scheme", "mysql://127.0.0.1/test", sessions.EINVALID},
		{"not a URL", "host=127.0.0.1 dbname=test", sessions.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := postgres.Open(context.Background(), tt.url, postgres.Options{})
			if err == nil {
				s.Close()
			}
			wantCode(t, "Open", err, tt.code)
		})
	}
	t.Run("missing schema", func(t *testing.T) {
		pgtest.Connect(t) // skips without a database
		u := withParam(t, pgtest.BaseURL(), "search_path", "sessiond_test_no_such_schema")
		s, err := postgres.Open(context.Background(), u, postgres.Options{})
		if err == nil {
			s.Close()
		}
		wantCode(t, "Open", err, sessions.EINVALID)
	})
}

// TestUnavailable checks that every way of losing the database gives
// EUNAVAILABLE, and quickly: a request must fail within about the query
// timeout, never hang.
func TestUnavailable(t *testing.T) {
	const timeout = 500 * time.Millisecond
	opts := postgres.Options{ConnectTimeout: timeout, QueryTimeout: timeout}
	// Generous: the point is "about the timeout", not "forever".
	const limit = 5 * timeout
	ctx := context.Background()

	check := func(t *testing.T, what string, call func() error) {
		t.Helper()
		start := time.Now()
		err := call()
		took := time.Since(start)
		wantCode(t, what, err, sessions.EUNAVAILABLE)
		if took > limit {
			t.Errorf("%s: took %v, want at most %v", what, took, limit)
		}
		if msg := sessions.ErrorMessage(err); msg != "the session store is unavailable" {
			t.Errorf("%s: client message %q leaks detail", what, msg)
		}
	}

	t.Run("connection refused", func(t *testing.T) {
		check(t, "Open", func() error {
			_, err := postgres.Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable", opts)
			return err
		})
	})
	t.Run("server never answers", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var accepted []net.Conn
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				accepted = append(accepted, c) // held open, never answered
				mu.Unlock()
			}
		})
		t.Cleanup(func() {
			ln.Close()
			wg.Wait()
			for _, c := range accepted {
				c.Close()
			}
		})
		check(t, "Open", func() error {
			_, err := postgres.Open(ctx, "postgres://postgres@"+ln.Addr().String()+"/test?sslmode=disable", opts)
			return err
		})
	})
	t.Run("closed store", func(t *testing.T) {
		s, err := postgres.Open(ctx, pgtest.URL(t), opts)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		s.Close()
		check(t, "Ping", func() error { return s.Ping(ctx) })
		check(t, "SessionByKey", func() error { _, err := s.SessionByKey(ctx, 1, "00"); return err })
		check(t, "CreateSession", func() error { return s.CreateSession(ctx, newSession(1, "alice", "app"), nil) })
	})
	t.Run("server goes away", func(t *testing.T) {
		u, p := pgtest.ViaProxy(t)
		s := open(t, u, opts)
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping before: %v", err)
		}
		p.Kill()
		check(t, "Ping", func() error { return s.Ping(ctx) })
		check(t, "PurgeSessions", func() error { _, err := s.PurgeSessions(ctx, now, 10); return err })
	})
	t.Run("network partition", func(t *testing.T) {
		u, p := pgtest.ViaProxy(t)
		s := open(t, u, opts)
		tid := tenant(t, s, "acme")
		x := newSession(tid, "alice", "app")
		create(t, s, x)

		p.Freeze(true)
		check(t, "SessionByKey", func() error { _, err := s.SessionByKey(ctx, tid, x.Key); return err })
		check(t, "UpdateSession", func() error {
			_, err := s.UpdateSession(ctx, tid, x.Key, func(*sessions.Session) (*sessions.ActivityEntry, error) { return nil, nil }, 10)
			return err
		})
		check(t, "CreateSession", func() error { return s.CreateSession(ctx, newSession(tid, "bob", "app"), nil) })

		// When the network heals, the store works again without a restart.
		p.Freeze(false)
		if _, err := s.SessionByKey(ctx, tid, x.Key); err != nil {
			t.Fatalf("SessionByKey after the partition: %v", err)
		}
	})
}

// seedSQL fills a schema with the shape of a real deployment: two tenants,
// 20,000 users with three sessions each (a fifth expired, a tenth
// revoked, each with one of 20 applications and one of three others), and
// one user with a long history of 1,000 sessions; every session has three
// trail entries, and one of the heavy user's has a full trail of 100. It is big enough that
// the planner's choices are the ones it makes in production, where a
// sequential scan of sessions would read millions of rows per request.
const seedSQL = `
INSERT INTO tenants (id, name, created_at) VALUES (1, 't1', 0), (2, 't2', 0);
INSERT INTO users (tenant_id, user_id, created_at)
SELECT 1 + g % 2, 'user-' || g, 0 FROM generate_series(1, 20000) g;
INSERT INTO users VALUES (1, 'heavy', 0);
INSERT INTO sessions (tenant_id, user_id, session_id, session_key, client_ids,
	initiated_at, expires_at, last_updated, revoked_at)
SELECT 1 + u % 2, 'user-' || u, upper(md5('id' || g)), upper(md5('k1' || g) || md5('k2' || g)),
	ARRAY['app-' || g % 20, 'app-x' || g % 3],
	1700000000 - 100000 + g,
	1700000000 + (CASE WHEN g % 5 = 0 THEN -50000 ELSE 50000 END) + g,
	1700000000 - 1000 + g,
	CASE WHEN g % 10 = 1 THEN 1700000000 - 10 ELSE 0 END
FROM generate_series(1, 60000) g, LATERAL (SELECT 1 + g % 20000 AS u) x;
INSERT INTO sessions (tenant_id, user_id, session_id, session_key, client_ids,
	initiated_at, expires_at, last_updated, revoked_at)
SELECT 1, 'heavy', upper(md5('hid' || g)), upper(md5('hk1' || g) || md5('hk2' || g)),
	ARRAY['app-' || g % 4],
	1700000000 - 100000 + g,
	1700000000 + (CASE WHEN g % 5 = 0 THEN -50000 ELSE 50000 END) + g,
	1700000000 - 1000 + g,
	CASE WHEN g % 10 = 1 THEN 1700000000 - 10 ELSE 0 END
FROM generate_series(1, 1000) g;
INSERT INTO session_activity (session, at, client_id, ip_address, new_country, impossible_travel)
SELECT s.id, s.initiated_at + n, 'app-' || n, '192.0.2.' || n, n = 1, false
FROM sessions s, generate_series(1, 3) n;
INSERT INTO session_activity (session, at, client_id, ip_address, new_country, impossible_travel)
SELECT s.id, s.initiated_at + n, 'app-' || n % 4, '192.0.2.' || n % 200, false, false
FROM sessions s, generate_series(4, 100) n WHERE s.session_id = upper(md5('hid' || 2));
UPDATE sessions SET expiry_emitted = true WHERE revoked_at = 0 AND expires_at <= 1700000000;
INSERT INTO events (tenant_id, type, user_id, session_id, occurred_at, data)
SELECT tenant_id, 'session.started', user_id, session_id, initiated_at, '{}' FROM sessions ORDER BY id;
ANALYZE;
`

// planNode is the part of EXPLAIN (FORMAT JSON) that the plan test reads.
type planNode struct {
	NodeType string     `json:"Node Type"`
	Relation string     `json:"Relation Name"`
	Index    string     `json:"Index Name"`
	Plans    []planNode `json:"Plans"`
}

// walk calls fn on n and every node below it.
func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

// explain returns the plan of sql with args, as a tree and as text.
func explain(t *testing.T, conn *pgx.Conn, sql string, args ...any) (planNode, string) {
	t.Helper()
	ctx := context.Background()
	var plans []struct{ Plan planNode }
	if err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+sql, args...).Scan(&plans); err != nil || len(plans) != 1 {
		t.Fatalf("EXPLAIN %s: %v", sql, err)
	}
	rows, err := conn.Query(ctx, "EXPLAIN "+sql, args...)
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", sql, err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("EXPLAIN %s: %v", sql, err)
	}
	return plans[0].Plan, strings.Join(lines, "\n")
}

// literal renders a test argument as SQL, for EXECUTE.
func literal(v any) string {
	switch s := v.(type) {
	case *string:
		if s == nil {
			return "NULL"
		}
		return literal(*s)
	case string:
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	case sessions.EndReason:
		return literal(string(s))
	}
	return fmt.Sprint(v)
}

// TestQueryPlans checks on a realistically filled database that every
// per-request query is led by an index: listing a user's sessions in every
// sort order, with and without the client filter, counting them, and the
// token lookup of every validation. It checks the plan PostgreSQL makes
// for the actual arguments and the generic plan that a prepared statement
// (pgx caches them) may switch to; it never disables sequential scans.
func TestQueryPlans(t *testing.T) {
	u := pgtest.URL(t)
	open(t, u, postgres.Options{}) // migrate
	conn := connectTo(t, u)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, seedSQL); err != nil {
		t.Fatalf("seed: %v", err)
	}
	// As autovacuum (or the bulk path) leaves a loaded table: all-visible,
	// so that index-only scans need not visit the table. A transaction
	// open elsewhere in the database (tests of other packages) can keep
	// vacuum from marking the pages for a while; then the planner rightly
	// prefers plain index scans, and only the indexes are checked.
	allVisible := false
	for try := 0; try < 5 && !allVisible; try++ {
		if try > 0 {
			time.Sleep(time.Second)
		}
		if _, err := conn.Exec(ctx, "VACUUM sessions"); err != nil {
			t.Fatalf("vacuum: %v", err)
		}
		if err := conn.QueryRow(ctx, `SELECT relallvisible >= relpages FROM pg_class WHERE oid = 'sessions'::regclass`).Scan(&allVisible); err != nil {
			t.Fatal(err)
		}
	}
	if !allVisible {
		t.Log("vacuum could not mark every page all-visible: index-only scans are not checked")
	}

	type query struct {
		name string
		sql  string
		args []any
		// index, if set, is the index that must lead, with no Sort: the
		// page is read in index order and stops after its last row.
		index string
		// indexOnly, if set, is the index (or the prefix of the names of
		// indexes) that must be read by an index-only scan: a count, or
		// a deep page's deferred join, which sorts the page's rows again.
		indexOnly string
	}
	var queries []query
	for _, status := range []sessions.Status{sessions.StatusActive, sessions.StatusEnded} {
		for _, user := range []string{"user-7", "heavy"} {
			for _, client := range []string{"", "app-1"} {
				for _, f := range sessions.SortFields {
					for _, desc := range []bool{false, true} {
						q := sessions.ListQuery{TenantID: 1, UserID: user, Status: status, ClientID: client, Sort: f, Desc: desc, Page: 3, Size: 10, Now: now}
						sql, args, err := postgres.ListSQL(q)
						if err != nil {
							t.Fatal(err)
						}
						qq := query{name: fmt.Sprintf("list %s %s client=%q sort=%s desc=%v", status, user, client, f, desc), sql: sql, args: args}
						if user == "heavy" && client == "" {
							qq.index = "sessions_by_user_" + string(f)
						}
						queries = append(queries, qq)
					}
				}
				if client == "" {
					// Page 50 of the heavy user's: skipped on the index alone.
					for _, f := range sessions.SortFields {
						q := sessions.ListQuery{TenantID: 1, UserID: user, Status: status, Sort: f, Desc: true, Page: 50, Size: 10, Now: now}
						sql, args, err := postgres.ListSQL(q)
						if err != nil {
							t.Fatal(err)
						}
						qq := query{name: fmt.Sprintf("deep page %s %s sort=%s", status, user, f), sql: sql, args: args}
						if user == "heavy" {
							qq.indexOnly = "sessions_by_user_" + string(f)
						}
						queries = append(queries, qq)
					}
				}
				sql, args := postgres.CountSQL(sessions.ListQuery{TenantID: 1, UserID: user, Status: status, ClientID: client, Now: now})
				qq := query{name: fmt.Sprintf("count %s %s client=%q", status, user, client), sql: sql, args: args}
				if user == "heavy" && client == "" {
					qq.indexOnly = "sessions_by_user_"
				}
				queries = append(queries, qq)
			}
		}
	}
	// Bulk revocation of one user's sessions: led by one of the user's
	// indexes (the planner may sort the user's matches by session ID).
	// Without a user, a bulk revocation reads the tenant's sessions, by
	// whatever plan is best.
	for _, f := range []sessions.BulkFilter{
		{UserID: "heavy"},
		{UserID: "heavy", ClientID: "app-1", IdleLongerThan: 60, StartedBefore: now, After: "8"},
	} {
		sql, args := postgres.MatchCountSQL(1, f, now)
		queries = append(queries, query{name: fmt.Sprintf("bulk count %+v", f), sql: sql, args: args})
		sql, args = postgres.MatchSampleSQL(1, f, now, 10)
		queries = append(queries, query{name: fmt.Sprintf("bulk sample %+v", f), sql: sql, args: args})
		sql, args = postgres.RevokeMatchingSQL(1, f, now, "key_1", 500)
		queries = append(queries, query{name: fmt.Sprintf("bulk revoke %+v", f), sql: sql, args: args})
	}
	queries = append(queries, query{name: "revoke all but one", sql: postgres.RevokeUserSQL,
		args: []any{int64(1), "heavy", int64(now), "revoked_all", "key_1", "0123456789ABCDEF0123456789ABCDEF"}})
	var key string
	if err := conn.QueryRow(ctx, "SELECT session_key FROM sessions WHERE user_id = 'user-7' LIMIT 1").Scan(&key); err != nil {
		t.Fatal(err)
	}
	// The heavy user's session with the full trail.
	var sessionID string
	var sessionRow int64
	if err := conn.QueryRow(ctx, "SELECT session_id, id FROM sessions WHERE session_id = upper(md5('hid' || 2))").Scan(&sessionID, &sessionRow); err != nil {
		t.Fatal(err)
	}
	queries = append(queries,
		query{name: "session by key", sql: postgres.SessionByKeySQL, args: []any{int64(1), key}, index: "sessions_session_key_key"},
		query{name: "count activity", sql: postgres.CountActivitySQL, args: []any{int64(1), "heavy", int64(now), sessionID}, index: "session_activity_by_session"},
		query{name: "list activity", sql: postgres.ListActivitySQL, args: []any{int64(1), "heavy", int64(now), sessionID, 10, 20}, index: "session_activity_by_session"},
		query{name: "trim activity", sql: postgres.TrimActivitySQL, args: []any{sessionRow, 10}, index: "session_activity_by_session"},
		// The purge of expired sessions reads sessions_purgeable, which
		// holds only what may be purged; when few rows qualify, the
		// planner may rightly sort them rather than walk the index.
		query{name: "purge expired", sql: postgres.PurgeExpiredSQL, args: []any{int64(now - 40000), 500}},
		query{name: "purge revoked", sql: postgres.PurgeRevokedSQL, args: []any{int64(now), 500}, index: "sessions_by_revoked_at"},
		query{name: "events feed", sql: postgres.ListEventsSQL, args: []any{int64(1), int64(30000), 100}},
		query{name: "purge emit expired", sql: postgres.ExpiredSQL, args: []any{int64(now + 100000), 500}, index: "sessions_expiry_pending"},
	)

	check := func(t *testing.T, q query, plan planNode, text string) {
		t.Helper()
		t.Logf("%s:\n%s", q.name, text)
		var indexes, indexOnly []string
		sorted := false
		plan.walk(func(n planNode) {
			if n.NodeType == "Index Only Scan" {
				indexOnly = append(indexOnly, n.Index)
			}
			switch {
			case n.NodeType == "Seq Scan":
				t.Errorf("%s: sequential scan of %s:\n%s", q.name, n.Relation, text)
			case n.NodeType == "Sort":
				sorted = true
			case strings.HasPrefix(n.Index, "sessions_"), strings.HasPrefix(n.Index, "session_activity_"),
				strings.HasPrefix(n.Index, "events_"):
				indexes = append(indexes, n.Index) // every index of sessions, trails and events
			}
		})
		if len(indexes) == 0 {
			t.Errorf("%s: no index of sessions or trails used:\n%s", q.name, text)
		}
		if q.index != "" && (!slices.Contains(indexes, q.index) || sorted) {
			t.Errorf("%s: got indexes %v (sort: %v), want %s and no sort:\n%s", q.name, indexes, sorted, q.index, text)
		}
		scans := indexOnly
		if !allVisible {
			scans = indexes
		}
		if q.indexOnly != "" && !slices.ContainsFunc(scans, func(i string) bool { return strings.HasPrefix(i, q.indexOnly) }) {
			t.Errorf("%s: got index-only scans of %v, want one of %s:\n%s", q.name, indexOnly, q.indexOnly, text)
		}
	}

	t.Run("custom", func(t *testing.T) {
		for _, q := range queries {
			plan, text := explain(t, conn, q.sql, q.args...)
			check(t, q, plan, text)
		}
	})
	t.Run("generic", func(t *testing.T) {
		if _, err := conn.Exec(ctx, "SET plan_cache_mode = force_generic_plan"); err != nil {
			t.Fatal(err)
		}
		defer conn.Exec(ctx, "RESET plan_cache_mode")
		for i, q := range queries {
			if strings.HasPrefix(q.name, "purge") {
				continue // a DELETE cannot be EXPLAINed without running it
			}
			name := fmt.Sprintf("generic_%d", i)
			if _, err := conn.Exec(ctx, "PREPARE "+name+" AS "+q.sql); err != nil {
				t.Fatalf("PREPARE %s: %v", q.name, err)
			}
			lits := make([]string, len(q.args))
			for j, a := range q.args {
				lits[j] = literal(a)
			}
			plan, text := explain(t, conn, "EXECUTE "+name+"("+strings.Join(lits, ", ")+")")
			// The generic plan cannot know the user's history: it must
			// still be led by an index, and a page of a user's active
			// sessions in any order by that order's index, without a
			// sort, lest it read all of a heavy user's sessions.
			if !strings.HasPrefix(q.name, "list active") {
				q.index = ""
			}
			q.indexOnly = ""
			check(t, q, plan, text)
		}
	})
}

// lockTestURL returns a pgtest URL whose connections carry a name of their
// own, so that waitForLockWait can find them among all the server's.
func lockTestURL(t *testing.T) (rawURL, appName string) {
	t.Helper()
	appName = "sessiond-test-" + sessions.NewSessionID()[:12]
	return withParam(t, pgtest.URL(t), "application_name", appName), appName
}

// waitForLockWait returns once a connection named appName is waiting for
// a lock: proof that the call it runs is blocked by another transaction,
// without guessing at how long that takes. done is the call's result: the
// test fails if it comes first.
func waitForLockWait(t *testing.T, appName string, done <-chan error) {
	t.Helper()
	conn := pgtest.Connect(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-done:
			t.Fatalf("the call finished without waiting for the lock: %v", err)
		default:
		}
		var waiting bool
		err := conn.QueryRow(context.Background(), `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
WHERE application_name = $1 AND wait_event_type = 'Lock')`, appName).Scan(&waiting)
		if err != nil {
			t.Fatalf("pg_stat_activity: %v", err)
		}
		if waiting {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no connection of %s waited for a lock", appName)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestUpdateSessionLocksTheSession checks the row lock of UpdateSession
// against revocations: whichever commits first, the other sees it, so a
// revoked session is never brought back and a joined client never lost.
func TestUpdateSessionLocksTheSession(t *testing.T) {
	ctx := context.Background()

	t.Run("revocation waits for a validation", func(t *testing.T) {
		u, app := lockTestURL(t)
		s := open(t, u, postgres.Options{})
		tid := tenant(t, s, "acme")
		x := newSession(tid, "alice", "app-1")
		create(t, s, x)

		locked, release := make(chan struct{}), make(chan struct{})
		// Let the validation finish even if the test fails, so the store
		// can close.
		unblock := sync.OnceFunc(func() { close(release) })
		t.Cleanup(unblock)
		updated := make(chan error, 1)
		go func() {
			_, err := s.UpdateSession(ctx, tid, x.Key, func(cur *sessions.Session) (*sessions.ActivityEntry, error) {
				close(locked)
				<-release
				cur.ClientIDs = append(cur.ClientIDs, "app-2")
				cur.LastUpdated = now
				return nil, nil
			}, 10)
			updated <- err
		}()
		<-locked
		revoked := make(chan error, 1)
		go func() { revoked <- s.RevokeSessionByKey(ctx, tid, x.Key, now, "key_1") }()
		waitForLockWait(t, app, revoked)
		unblock()
		if err := <-updated; err != nil {
			t.Fatalf("UpdateSession: %v", err)
		}
		if err := <-revoked; err != nil {
			t.Fatalf("RevokeSessionByKey: %v", err)
		}
		got, err := s.SessionByKey(ctx, tid, x.Key)
		if err != nil {
			t.Fatal(err)
		}
		if got.RevokedAt != now || got.LastUpdated != now || !slices.Equal(got.ClientIDs, []string{"app-1", "app-2"}) {
			t.Errorf("got revoked_at %d, last_updated %d, clients %v; want %d, %d, [app-1 app-2]",
				got.RevokedAt, got.LastUpdated, got.ClientIDs, now, now)
		}
	})

	t.Run("validation waits for a revocation and sees it", func(t *testing.T) {
		u, app := lockTestURL(t)
		s := open(t, u, postgres.Options{})
		tid := tenant(t, s, "acme")
		x := newSession(tid, "alice", "app-1")
		create(t, s, x)

		// A revocation in progress on another node: its transaction holds
		// the row until it commits.
		other := connectTo(t, withParam(t, u, "application_name", "other-node"))
		tx, err := other.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(ctx)
		if _, err := tx.Exec(ctx, "UPDATE sessions SET revoked_at = $1 WHERE session_key = $2", now, x.Key); err != nil {
			t.Fatal(err)
		}

		ended := sessions.Errorf(sessions.ENOTFOUND, "ended")
		var seen int64 = -1
		updated := make(chan error, 1)
		go func() {
			_, err := s.UpdateSession(ctx, tid, x.Key, func(cur *sessions.Session) (*sessions.ActivityEntry, error) {
				seen = cur.RevokedAt
				if !cur.Active(now) {
					return nil, ended
				}
				cur.ClientIDs = append(cur.ClientIDs, "app-2")
				return nil, nil
			}, 10)
			updated <- err
		}()
		waitForLockWait(t, app, updated)
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-updated; err != ended {
			t.Fatalf("UpdateSession: got %v, want fn's error", err)
		}
		if seen != now {
			t.Errorf("fn saw revoked_at %d, want %d", seen, now)
		}
		if got, _ := s.SessionByKey(ctx, tid, x.Key); got == nil || got.RevokedAt != now || len(got.ClientIDs) != 1 {
			t.Errorf("got %+v, want the session revoked and unchanged", got)
		}
	})
}

// TestPurgeSkipsLockedRows checks that the purge neither waits for rows
// that another transaction holds nor deletes them, and that several
// nodes purging at once share the work without deleting a row twice.
func TestPurgeSkipsLockedRows(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	s := open(t, u, postgres.Options{QueryTimeout: 3 * time.Second})
	tid := tenant(t, s, "acme")
	const ended = 200
	var held *sessions.Session
	for i := range ended {
		x := newSession(tid, fmt.Sprintf("user-%d", i%17), "app")
		x.ExpiresAt = now - 100 - int64(i)
		if i%2 == 0 {
			x.RevokedAt = now - 50
		}
		create(t, s, x)
		if i == 0 {
			held = x
		}
	}
	create(t, s, newSession(tid, "alice", "app")) // active: never purged
	// Expired sessions are purged once their expiry is recorded.
	if _, err := s.EmitExpired(ctx, now, ended, func(*sessions.Session) sessions.EndReason { return sessions.ReasonExpiredIdle }); err != nil {
		t.Fatal(err)
	}

	other := connectTo(t, u)
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT 1 FROM sessions WHERE session_key = $1 FOR UPDATE", held.Key); err != nil {
		t.Fatal(err)
	}

	const nodes, batch = 4, 7
	var wg sync.WaitGroup
	counts := make([]int, nodes)
	errs := make([]error, nodes)
	for i := range nodes {
		wg.Go(func() {
			for {
				n, err := s.PurgeSessions(ctx, now, batch)
				counts[i] += n
				if err != nil || n == 0 {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for i := range nodes {
		if errs[i] != nil {
			t.Errorf("node %d: PurgeSessions: %v", i, errs[i])
		}
		total += counts[i]
	}
	if total != ended-1 {
		t.Errorf("purged %d sessions in all, want %d (all but the locked one)", total, ended-1)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PurgeSessions(ctx, now, batch); err != nil || n != 1 {
		t.Errorf("PurgeSessions after the lock is released: got %d, %v; want 1", n, err)
	}
	if n, err := s.CountActiveSessions(ctx, now); err != nil || n != 1 {
		t.Errorf("CountActiveSessions: got %d, %v; want 1", n, err)
	}
}

// TestUpdateSessionFailureEndsTheTransaction checks that when fn refuses,
// or the session does not exist, UpdateSession ends its transaction: the
// row is not left locked, and the connection goes back to the pool
// (rolled back, not closed).
func TestUpdateSessionFailureEndsTheTransaction(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	s := open(t, u, postgres.Options{MaxConns: 1})
	tid := tenant(t, s, "acme")
	x := newSession(tid, "alice", "app-1")
	create(t, s, x)
	conns := s.NewConns()

	refused := sessions.Errorf(sessions.EFORBIDDEN, "no")
	_, err := s.UpdateSession(ctx, tid, x.Key, func(*sessions.Session) (*sessions.ActivityEntry, error) { return nil, refused }, 10)
	if err != refused {
		t.Fatalf("UpdateSession with a refusing fn: got %v, want fn's error", err)
	}
	_, err = s.UpdateSession(ctx, tid, "no-such-key", func(*sessions.Session) (*sessions.ActivityEntry, error) {
		t.Error("fn called for a missing session")
		return nil, nil
	}, 10)
	wantCode(t, "UpdateSession of a missing key", err, sessions.ENOTFOUND)

	other := connectTo(t, u)
	var one int
	if err := other.QueryRow(ctx, `SELECT 1 FROM sessions WHERE session_key = $1 FOR UPDATE NOWAIT`, x.Key).Scan(&one); err != nil {
		t.Fatalf("the session is still locked: %v", err)
	}
	if _, err := s.UpdateSession(ctx, tid, x.Key, func(cur *sessions.Session) (*sessions.ActivityEntry, error) {
		cur.LastUpdated = now
		return nil, nil
	}, 10); err != nil {
		t.Fatalf("UpdateSession after the failures: %v", err)
	}
	if n := s.NewConns(); n != conns {
		t.Errorf("the pool opened %d connections after the failures, want none (rolled back and reused)", n-conns)
	}
}
