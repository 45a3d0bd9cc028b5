package sqlite

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

// The WAL is copied back into the database in the background, without a
// writer doing it: after a burst of writes far below the writer's own
// threshold, every frame ends up checkpointed (the wal-index's nBackfill
// reaches mxFrame).
func TestBackgroundCheckpoint(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads the mapped wal-index")
	}
	st := open(t)
	shm := st.watch.shm.Load()
	if shm == nil {
		t.Fatal("the wal-index header could not be mapped")
	}
	ctx := context.Background()
	for i := range 50 {
		k := &sessions.APIKey{ID: fmt.Sprintf("key_%016d", i), TenantName: "acme", Name: "k", Scopes: []sessions.Scope{sessions.ScopeSessionsRead}, Hash: []byte(fmt.Sprintf("%032d", i)), CreatedAt: 1}
		if err := st.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	mxFrame := func() uint32 { return shm.word(4) }
	nBackfill := func() uint32 { return shm.word(24) } // WalCkptInfo.nBackfill, after the two 48-byte headers
	if mxFrame() == 0 || mxFrame() >= writerCheckpointPages {
		t.Fatalf("mxFrame %d: want some frames, fewer than the writer's threshold", mxFrame())
	}
	deadline := time.Now().Add(5 * time.Second)
	for nBackfill() != mxFrame() {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s, %d of %d WAL frames checkpointed", nBackfill(), mxFrame())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
