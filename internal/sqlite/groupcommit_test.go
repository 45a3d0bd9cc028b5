package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/sessiond/sessiond/internal/sessions"
)

// inOneGroup runs calls concurrently so that they all queue, in order,
// behind a write that holds the writer, and so run as one group once it
// lets go; whileQueued, if not nil, runs once all have queued. It returns
// each call's error, and fails t unless the calls ran in one transaction
// (they must be fewer than maxGroup).
func inOneGroup(t *testing.T, st *Store, calls []func() error, whileQueued func()) []error {
	t.Helper()
	release := make(chan struct{})
	held := make(chan struct{})
	blocker := make(chan error, 1)
	go func() {
		blocker <- st.write(context.Background(), func(*sql.Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	txs := st.group.txs.Load()
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for i, call := range calls {
		wg.Go(func() { errs[i] = call() })
		// One at a time, so that they queue in order.
		for queued(st) <= i {
			runtime.Gosched()
		}
	}
	if whileQueued != nil {
		whileQueued()
	}
	close(release)
	wg.Wait()
	if err := <-blocker; err != nil {
		t.Fatalf("blocking write: %v", err)
	}
	if got := st.group.txs.Load() - txs; got != 2 {
		t.Errorf("the calls ran in %d transactions after the blocking one's, want 1", got-1)
	}
	return errs
}

// queued counts the ops in the write queue, those whose callers gave up
// waiting included.
func queued(st *Store) int {
	st.group.mu.Lock()
	defer st.group.mu.Unlock()
	return len(st.group.queue)
}

func newTestSession(tenantID int64, userID string) *sessions.Session {
	return &sessions.Session{TenantID: tenantID, UserID: userID, ID: sessions.NewSessionID(),
		Key: sessions.SessionKey(sessions.NewToken()), ClientIDs: []string{"web"}, InitiatedAt: 1, ExpiresAt: 1000, LastUpdated: 1}
}

func newTestTenant(t *testing.T, st *Store) int64 {
	t.Helper()
	k := &sessions.APIKey{ID: sessions.NewKeyID(), TenantName: "acme", Name: "k", Scopes: []sessions.Scope{sessions.ScopeSessionsRead},
		Hash: sessions.HashAPIKey(sessions.NewAPIKeySecret())}
	if err := st.CreateAPIKey(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	return k.TenantID
}

func count(t *testing.T, st *Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := st.reader.QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestGroupCommitConflicts starts sessions in one group, every third with
// the key of an existing session: those fail with ECONFLICT and leave
// nothing behind (not their user, not their event), the others all
// commit.
func TestGroupCommitConflicts(t *testing.T) {
	st := open(t)
	ctx := t.Context()
	tenant := newTestTenant(t, st)
	taken := newTestSession(tenant, "owner")
	if err := st.CreateSession(ctx, taken, nil); err != nil {
		t.Fatal(err)
	}
	events := count(t, st, `SELECT count(*) FROM events`)

	const n = 48
	ss := make([]*sessions.Session, n)
	calls := make([]func() error, n)
	for i := range ss {
		ss[i] = newTestSession(tenant, fmt.Sprintf("user%d", i))
		if i%3 == 0 {
			ss[i].Key = taken.Key
		}
		calls[i] = func() error { return st.CreateSession(ctx, ss[i], &sessions.ActivityEntry{At: 1, ClientID: "web"}) }
	}
	errs := inOneGroup(t, st, calls, nil)

	ok := 0
	for i, err := range errs {
		if i%3 == 0 {
			if code := sessions.ErrorCode(err); code != sessions.ECONFLICT {
				t.Errorf("session %d (key taken): got %v (%s), want ECONFLICT", i, err, code)
			}
			if _, err := st.GetSession(ctx, tenant, ss[i].UserID, ss[i].ID, 2); sessions.ErrorCode(err) != sessions.ENOTFOUND {
				t.Errorf("session %d (key taken): GetSession: got %v, want ENOTFOUND", i, err)
			}
			if c := count(t, st, `SELECT count(*) FROM users WHERE user_id = ?`, ss[i].UserID); c != 0 {
				t.Errorf("session %d (key taken): its user was registered", i)
			}
			continue
		}
		if err != nil {
			t.Errorf("session %d: %v", i, err)
			continue
		}
		ok++
		got, err := st.GetSession(ctx, tenant, ss[i].UserID, ss[i].ID, 2)
		if err != nil || got.Key != ss[i].Key {
			t.Errorf("session %d: GetSession: got %v, %v", i, got, err)
		}
	}
	if got := count(t, st, `SELECT count(*) FROM events`) - events; got != ok {
		t.Errorf("got %d new events, want %d (one per started session)", got, ok)
	}
	if got := count(t, st, `SELECT count(*) FROM session_activity`); got != ok {
		t.Errorf("got %d trail entries, want %d", got, ok)
	}
}

// errFn is a write's own failure.
var errFn = errors.New("fn failed")

// TestGroupCommitFailedWriteUndone: a write that fails after writing
// leaves none of its rows, while the writes before and after it in its
// group commit.
func TestGroupCommitFailedWriteUndone(t *testing.T) {
	st := open(t)
	tenant := newTestTenant(t, st)
	insert := func(user string, fail bool) func() error {
		return func() error {
			return st.write(t.Context(), func(tx *sql.Tx) error {
				for _, u := range []string{user, user + "-2"} {
					if _, err := tx.ExecContext(t.Context(), `INSERT INTO users (tenant_id, user_id, created_at) VALUES (?, ?, 1)`, tenant, u); err != nil {
						return err
					}
				}
				if fail {
					return errFn
				}
				return nil
			})
		}
	}
	var calls []func() error
	for i := range 10 {
		calls = append(calls, insert(fmt.Sprint("u", i), i%2 == 1))
	}
	errs := inOneGroup(t, st, calls, nil)
	for i, err := range errs {
		want := 2
		if i%2 == 1 {
			want = 0
			if !errors.Is(err, errFn) {
				t.Errorf("write %d: got %v, want its own error", i, err)
			}
		} else if err != nil {
			t.Errorf("write %d: %v", i, err)
		}
		if got := count(t, st, `SELECT count(*) FROM users WHERE user_id IN (?, ?)`, fmt.Sprint("u", i), fmt.Sprint("u", i, "-2")); got != want {
			t.Errorf("write %d: got %d of its rows, want %d", i, got, want)
		}
	}
}

// TestGroupCommitCancelled: callers whose ctx ends while they wait, or
// before their turn in a group, or between their statements, fail alone;
// one whose ctx ends during a statement may fail or complete; the others
// of their group commit either way.
func TestGroupCommitCancelled(t *testing.T) {
	st := open(t)
	tenant := newTestTenant(t, st)
	insertUser := func(ctx context.Context, tx *sql.Tx, user string) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (tenant_id, user_id, created_at) VALUES (?, ?, 1)`, tenant, user)
		return err
	}
	const n = 40
	const (
		plain   = iota
		atTurn  // cancelled by the write before it in the group
		between // cancelled between two statements of its own
		during  // cancelled while its long write statement runs
		whileWaiting
	)
	calls := make([]func() error, n)
	kinds := make([]int, n)
	var waiting []context.CancelFunc
	var next context.CancelFunc // atTurn's cancel, for the write before it
	for i := n - 1; i >= 0; i-- {
		user := fmt.Sprint("u", i)
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		kinds[i] = i % 5
		switch kinds[i] {
		case plain:
			cancelNext := next
			calls[i] = func() error {
				return st.write(ctx, func(tx *sql.Tx) error {
					if cancelNext != nil {
						cancelNext()
					}
					return insertUser(ctx, tx, user)
				})
			}
		case atTurn:
			next = cancel
			calls[i] = func() error {
				return st.write(ctx, func(tx *sql.Tx) error { return insertUser(ctx, tx, user) })
			}
		case between:
			calls[i] = func() error {
				return st.write(ctx, func(tx *sql.Tx) error {
					if err := insertUser(ctx, tx, user); err != nil {
						return err
					}
					cancel()
					return insertUser(ctx, tx, user+"-2")
				})
			}
		case during:
			calls[i] = func() error {
				return st.write(ctx, func(tx *sql.Tx) error {
					if err := insertUser(ctx, tx, user); err != nil {
						return err
					}
					go cancel()
					// Interrupting a write statement would make SQLite roll
					// back the whole transaction.
					_, err := tx.ExecContext(ctx, `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 50000)
						UPDATE users SET created_at = 2 WHERE tenant_id = ? AND user_id = ? AND (SELECT count(*) FROM c) > 0`, tenant, user)
					return err
				})
			}
		case whileWaiting:
			waiting = append(waiting, cancel)
			calls[i] = func() error {
				return st.write(ctx, func(tx *sql.Tx) error { return insertUser(ctx, tx, user) })
			}
		}
	}
	errs := inOneGroup(t, st, calls, func() {
		for _, cancel := range waiting {
			cancel()
		}
	})
	for i, err := range errs {
		users := count(t, st, `SELECT count(*) FROM users WHERE user_id IN (?, ?)`, fmt.Sprint("u", i), fmt.Sprint("u", i, "-2"))
		switch kinds[i] {
		case plain:
			if err != nil || users != 1 {
				t.Errorf("write %d: got %v and %d rows, want success and 1", i, err, users)
			}
		case during:
			if (err == nil) != (users == 1) || users > 1 {
				t.Errorf("write %d (cancelled during a statement): got %v and %d rows", i, err, users)
			}
		default:
			if !errors.Is(err, context.Canceled) || users != 0 {
				t.Errorf("write %d (kind %d): got %v and %d rows, want context.Canceled and none", i, kinds[i], err, users)
			}
		}
	}
}

// TestGroupCommitLostTransaction: if the group's transaction ends midway
// (as SQLite ends it on some errors), the writes it ran are not
// acknowledged, and those after run in a new one.
func TestGroupCommitLostTransaction(t *testing.T) {
	st := open(t)
	tenant := newTestTenant(t, st)
	const n, lose = 10, 4
	calls := make([]func() error, n)
	for i := range calls {
		calls[i] = func() error {
			return st.write(t.Context(), func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(t.Context(), `INSERT INTO users (tenant_id, user_id, created_at) VALUES (?, ?, 1)`, tenant, fmt.Sprint("u", i)); err != nil {
					return err
				}
				if i == lose {
					_, err := tx.ExecContext(t.Context(), `ROLLBACK`)
					return err
				}
				return nil
			})
		}
	}
	txs := st.group.txs.Load()
	// Not inOneGroup: the group takes two transactions.
	release := make(chan struct{})
	held := make(chan struct{})
	go st.write(context.Background(), func(*sql.Tx) error { close(held); <-release; return nil })
	<-held
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, call := range calls {
		wg.Go(func() { errs[i] = call() })
		for queued(st) <= i {
			runtime.Gosched()
		}
	}
	close(release)
	wg.Wait()
	if got := st.group.txs.Load() - txs; got != 3 {
		t.Errorf("got %d transactions, want 3: the blocking write's, the lost one, the rest's", got)
	}
	for i, err := range errs {
		users := count(t, st, `SELECT count(*) FROM users WHERE user_id = ?`, fmt.Sprint("u", i))
		if i <= lose {
			if sessions.ErrorCode(err) != sessions.EUNAVAILABLE || users != 0 {
				t.Errorf("write %d (in the lost transaction): got %v and %d rows, want EUNAVAILABLE and none", i, err, users)
			}
		} else if err != nil || users != 1 {
			t.Errorf("write %d (after): got %v and %d rows, want success and 1", i, err, users)
		}
	}
}

// TestGroupCommitPanic: a write's panic reaches its own caller, and the
// rest of its group commits.
func TestGroupCommitPanic(t *testing.T) {
	st := open(t)
	tenant := newTestTenant(t, st)
	calls := make([]func() error, 5)
	for i := range calls {
		calls[i] = func() (err error) {
			if i == 2 {
				defer func() {
					if v := recover(); v != "boom" {
						err = fmt.Errorf("recovered %v, want boom", v)
					}
				}()
			}
			return st.write(t.Context(), func(tx *sql.Tx) error {
				if _, err := tx.ExecContext(t.Context(), `INSERT INTO users (tenant_id, user_id, created_at) VALUES (?, ?, 1)`, tenant, fmt.Sprint("u", i)); err != nil {
					return err
				}
				if i == 2 {
					panic("boom")
				}
				return nil
			})
		}
	}
	errs := inOneGroup(t, st, calls, nil)
	for i, err := range errs {
		want := 1
		if i == 2 {
			want = 0
		}
		if users := count(t, st, `SELECT count(*) FROM users WHERE user_id = ?`, fmt.Sprint("u", i)); err != nil || users != want {
			t.Errorf("write %d: got %v and %d rows, want %d", i, err, users, want)
		}
	}
}

// BenchmarkConcurrentCreate starts sessions from 32 goroutines at once,
// as the HTTP API's workers do, so that writes queue and commit in groups.
func BenchmarkConcurrentCreate(b *testing.B) {
	const n = 100_000
	st, tid, _ := seed(b, n)
	defer st.Close()
	ctx := context.Background()
	txs, ops := st.group.txs.Load(), st.group.ops.Load()
	b.SetParallelism(32 / runtime.GOMAXPROCS(0))
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			s := &sessions.Session{TenantID: tid, UserID: fmt.Sprintf("user-%d", i*7919%(n/100)), ID: sessions.NewSessionID(),
				Key: sessions.SessionKey(sessions.NewToken()), ClientIDs: []string{"web"}, InitiatedAt: benchNow, LastUpdated: benchNow, ExpiresAt: benchNow + 86400}
			if err := st.CreateSession(ctx, s, &sessions.ActivityEntry{At: benchNow, ClientID: "web"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(st.group.ops.Load()-ops)/float64(max(1, st.group.txs.Load()-txs)), "writes/tx")
}

// TestGroupCommitConnectionSettings: every group runs with temp_store
// MEMORY (see runGroup), and the writer connection is left as it was for
// its other users (BulkLoad): default temp_store, statements
// interruptible.
func TestGroupCommitConnectionSettings(t *testing.T) {
	st := open(t)
	for range 3 {
		got := make([]int, 3)
		calls := make([]func() error, len(got))
		for i := range calls {
			calls[i] = func() error {
				return st.write(t.Context(), func(tx *sql.Tx) error {
					return tx.QueryRowContext(t.Context(), `PRAGMA temp_store`).Scan(&got[i])
				})
			}
		}
		for i, err := range inOneGroup(t, st, calls, nil) {
			if err != nil || got[i] != 2 {
				t.Errorf("write %d: got %v, temp_store %d, want 2 (MEMORY)", i, err, got[i])
			}
		}
		conn, err := st.writer.Conn(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		var ts int
		if err := conn.QueryRowContext(t.Context(), `PRAGMA temp_store`).Scan(&ts); err != nil || ts != 0 {
			t.Errorf("after a group: got temp_store %d, %v, want 0 (default)", ts, err)
		}
		conn.Raw(func(dc any) error {
			if dc.(*cachingConn).uninterruptible {
				t.Errorf("after a group: the writer connection's statements are not interruptible")
			}
			return nil
		})
		conn.Close()
	}
}
