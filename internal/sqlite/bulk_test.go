package sqlite

import (
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/sessions"
)

// schemaIndexes returns the secondary indexes of sessions as the schema
// records them.
func schemaIndexes(t *testing.T, st *Store) []index {
	t.Helper()
	var out []index
	err := st.read(t.Context(), func(tx *sql.Tx) error {
		var err error
		out, err = sessionIndexes(t.Context(), tx)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out, func(a, b index) int { return strings.Compare(a.name, b.name) })
	return out
}

// bulkSessions returns n active sessions of users u0..u9.
func bulkSessions(n int) []*sessions.Session {
	out := make([]*sessions.Session, n)
	for i := range out {
		out[i] = &sessions.Session{UserID: fmt.Sprintf("u%d", i%10), ID: sessions.NewSessionID(), Key: sessions.SessionKey(sessions.NewToken()),
			ClientIDs: []string{"web"}, InitiatedAt: 100 + int64(i), LastUpdated: 200, ExpiresAt: 1000}
	}
	return out
}

// TestBulkRebuild checks the rebuild path of a load into an empty table:
// the sessions land with every index back as it was, and a load that
// fails leaves the table empty with every index in place.
func TestBulkRebuild(t *testing.T) {
	ctx := t.Context()
	st := open(t)
	k := &sessions.APIKey{ID: sessions.NewKeyID(), TenantName: "acme", Name: "k", Scopes: []sessions.Scope{sessions.ScopeSessionsRead},
		Hash: sessions.HashAPIKey(sessions.NewAPIKeySecret()), CreatedAt: 1}
	if err := st.CreateAPIKey(ctx, k); err != nil {
		t.Fatal(err)
	}
	want := schemaIndexes(t, st)
	if len(want) < 4 {
		t.Fatalf("sessions has %d secondary indexes, want the per-user ones at least", len(want))
	}

	// A duplicate key fails the load: nothing stored, nothing dropped.
	bad := bulkSessions(bulkRebuildMin + 10)
	bad[len(bad)-1].Key = bad[0].Key
	if err := st.BulkLoad(ctx, k.TenantID, bad); sessions.ErrorCode(err) != sessions.ECONFLICT {
		t.Fatalf("BulkLoad(a repeated key): got %v, want ECONFLICT", err)
	}
	if got := schemaIndexes(t, st); !slices.Equal(got, want) {
		t.Errorf("indexes after a failed load: got %v, want %v", got, want)
	}
	if n, err := st.CountActiveSessions(ctx, 500); err != nil || n != 0 {
		t.Errorf("CountActiveSessions after a failed load: got %d, %v, want 0", n, err)
	}

	ss := bulkSessions(bulkRebuildMin + 10)
	if err := st.BulkLoad(ctx, k.TenantID, ss); err != nil {
		t.Fatalf("BulkLoad: %v", err)
	}
	if got := schemaIndexes(t, st); !slices.Equal(got, want) {
		t.Errorf("indexes after the load: got %v, want %v", got, want)
	}
	var check string
	if err := st.reader.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Errorf("integrity_check: %q, %v", check, err)
	}
	// Every index is used and complete: the list's total and a page.
	for _, f := range sessions.SortFields {
		q := sessions.ListQuery{TenantID: k.TenantID, UserID: "u3", Sort: f, Page: 2, Size: 5, Now: 500}
		page, total, err := st.ListSessions(ctx, q)
		if err != nil || total != len(ss)/10 || len(page) != 5 {
			t.Errorf("ListSessions(sort %s): got %d of %d, %v; want 5 of %d", f, len(page), total, err, len(ss)/10)
		}
	}
	if n, err := st.CountActiveSessions(ctx, 500); err != nil || n != int64(len(ss)) {
		t.Errorf("CountActiveSessions: got %d, %v, want %d", n, err, len(ss))
	}

	// The table is not empty now: the next load maintains the indexes.
	more := bulkSessions(bulkRebuildMin)
	more[0].Key = ss[7].Key
	if err := st.BulkLoad(ctx, k.TenantID, more); sessions.ErrorCode(err) != sessions.ECONFLICT {
		t.Fatalf("BulkLoad(a taken key): got %v, want ECONFLICT", err)
	}
	if got := schemaIndexes(t, st); !slices.Equal(got, want) {
		t.Errorf("indexes after a second load: got %v, want %v", got, want)
	}
}

// TestListIndexesCarryFilter checks that every per-user sort index holds
// the columns of the status filter, so that the entries a deep page skips
// are judged from the index alone, never from their table rows.
func TestListIndexesCarryFilter(t *testing.T) {
	st := open(t)
	for _, col := range sortColumns {
		name := "sessions_by_user_" + col
		rows, err := st.reader.QueryContext(t.Context(), `SELECT name FROM pragma_index_info(?)`, name)
		if err != nil {
			t.Fatal(err)
		}
		var cols []string
		for rows.Next() {
			var c string
			if err := rows.Scan(&c); err != nil {
				t.Fatal(err)
			}
			cols = append(cols, c)
		}
		rows.Close()
		for _, want := range []string{"tenant_id", "user_id", col, "session_id", "revoked_at", "expires_at"} {
			if !slices.Contains(cols, want) {
				t.Errorf("%s has columns %v, want %s among them", name, cols, want)
			}
		}
	}
}
