package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/sessiond/sessiond/internal/sessions"
)

// Group commit. Most of a write's cost is its commit: the WAL frames of
// every page it changed. Concurrent writes change many of the same pages
// (the tails of the append-only events and activity tables and of their
// indexes, the users table), so the writes queued while one transaction
// commits are run together in the next one, each inside a savepoint of
// its own, and those pages are written once per group instead of once per
// write. Nothing waits for company: a write that finds the writer idle
// runs at once, alone.
//
// One caller at a time leads: it takes the queued writes (up to maxGroup),
// runs and commits them, then hands the lead to the next queued caller, so
// that no caller leads for longer than one group.

// maxGroup bounds the writes of one transaction, and so how long each of
// them waits for the others.
const maxGroup = 64

// States of a writeOp: queued until a leader claims it (to run it, or to
// have its caller lead), or its caller gives up waiting.
const (
	opQueued int32 = iota
	opClaimed
	opAbandoned
)

// writeOp is one call of write.
type writeOp struct {
	ctx   context.Context
	fn    func(tx *sql.Tx) error
	state atomic.Int32
	done  chan opResult // buffered: the leader never blocks on it

	// Set by the leader while it runs the op.
	err      error
	ok       bool // fn returned nil (and its savepoint was released)
	panicked bool
	panicVal any
}

// opResult is what a waiting caller receives: its op's outcome, or the
// lead.
type opResult struct {
	lead bool
}

// groupWriter queues the writes of a Store.
type groupWriter struct {
	mu      sync.Mutex
	queue   []*writeOp
	leading bool // a caller is leading; while false the queue is empty

	// Transactions run and the ops they ran, for tests and profiling.
	txs, ops atomic.Int64
}

// write runs fn in a transaction on the single writer connection, as one
// of a group of concurrent writes (see Group commit): fn's changes commit
// together with the group's or not at all, and write returns nil only once
// they have committed. An error fn returns undoes fn's changes alone and
// comes back translated by mapErr.
//
// fn's statements run to completion even if ctx ends meanwhile: SQLite
// rolls back the whole transaction, the other writes of the group with it,
// when a write statement is interrupted. ctx is checked before the write
// starts and before each of fn's statements.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return mapErr(err)
	}
	op := &writeOp{ctx: ctx, fn: fn, done: make(chan opResult, 1)}
	g := &s.group
	g.mu.Lock()
	if g.leading {
		g.queue = append(g.queue, op)
		g.mu.Unlock()
		var r opResult
		select {
		case r = <-op.done:
		case <-ctx.Done():
			if op.state.CompareAndSwap(opQueued, opAbandoned) {
				return mapErr(ctx.Err())
			}
			r = <-op.done
		}
		if !r.lead {
			return op.result()
		}
	} else {
		g.leading = true
		g.mu.Unlock()
		op.state.Store(opClaimed)
	}
	s.lead(op)
	return op.result()
}

// result returns the op's error, or re-panics fn's panic in the caller's
// goroutine.
func (op *writeOp) result() error {
	if op.panicked {
		panic(op.panicVal)
	}
	return op.err
}

// lead runs first, a claimed op of the calling goroutine, together with
// the ops queued behind it, then passes the lead on. It returns once
// first's outcome is set.
func (s *Store) lead(first *writeOp) {
	g := &s.group
	ops := []*writeOp{first}
	g.mu.Lock()
	k := 0
	for ; k < len(g.queue) && len(ops) < maxGroup; k++ {
		if op := g.queue[k]; op.state.CompareAndSwap(opQueued, opClaimed) {
			ops = append(ops, op)
		}
	}
	g.dequeue(k)
	g.mu.Unlock()

	for rest := ops; len(rest) > 0; {
		rest = rest[s.runGroup(rest):]
	}

	// Pass the lead on before waking the group's callers, so that the next
	// group starts while they are woken.
	g.mu.Lock()
	g.handOff()
	g.mu.Unlock()
	for _, op := range ops[1:] {
		op.done <- opResult{}
	}
}

// dequeue drops the first k ops of the queue, keeping its array; g.mu
// must be held.
func (g *groupWriter) dequeue(k int) {
	n := copy(g.queue, g.queue[k:])
	clear(g.queue[n:])
	g.queue = g.queue[:n]
}

// handOff makes the first still waiting op's caller the leader, or ends
// leading if none waits; g.mu must be held.
func (g *groupWriter) handOff() {
	for k, op := range g.queue {
		if op.state.CompareAndSwap(opQueued, opClaimed) {
			g.dequeue(k + 1)
			op.done <- opResult{lead: true}
			return
		}
	}
	g.dequeue(len(g.queue))
	g.leading = false
}

// runGroup runs a prefix of ops in one transaction and returns its length
// (at least 1), each op's outcome set. The prefix is shorter than ops only
// if the transaction was lost midway (then the ops it ran fail and the
// rest are to run in another).
func (s *Store) runGroup(ops []*writeOp) int {
	fail := func(ops []*writeOp, err error) {
		for _, op := range ops {
			op.err, op.ok = err, false
		}
	}
	// The transaction belongs to the whole group, so no one caller's ctx
	// may end it.
	bg := context.Background()
	conn, err := s.writer.Conn(bg)
	if err != nil {
		fail(ops, mapErr(err))
		return len(ops)
	}
	defer conn.Close()
	setInterruptible(conn, false)
	defer setInterruptible(conn, true)

	// A lone write needs no savepoint: its failure rolls back the
	// transaction.
	alone := len(ops) == 1
	if !alone {
		// The savepoints' journal of the pages they change spills to a
		// temporary file past 64 KiB (two system calls a page) unless
		// temp_store is MEMORY when the transaction begins. Only for the
		// group: bulk loads build indexes faster with the default.
		if _, err := conn.ExecContext(bg, `PRAGMA temp_store = MEMORY`); err != nil {
			fail(ops, mapErr(err))
			return len(ops)
		}
		defer conn.ExecContext(bg, `PRAGMA temp_store = DEFAULT`)
	}
	tx, err := conn.BeginTx(bg, nil)
	if err != nil {
		fail(ops, mapErr(err))
		return len(ops)
	}
	var lost error // why the transaction was lost
	n := 0
	defer func() { s.group.txs.Add(1); s.group.ops.Add(int64(n)) }()
	for _, op := range ops {
		n++
		if err := op.ctx.Err(); err != nil {
			op.err = mapErr(err)
			continue
		}
		if !alone {
			if _, err := tx.ExecContext(bg, `SAVEPOINT w`); err != nil {
				lost, op.ok = err, true // fails below, with the others
				break
			}
		}
		if err := op.call(tx); err != nil {
			op.err = mapErr(err)
			if alone {
				tx.Rollback()
				return n
			}
			// Undoing a savepoint fails if SQLite already rolled back the
			// whole transaction (as it does on some errors).
			if _, err := tx.ExecContext(bg, `ROLLBACK TO w`); err != nil {
				lost = err
				break
			}
			if _, err := tx.ExecContext(bg, `RELEASE w`); err != nil {
				lost = err
				break
			}
			continue
		}
		if !alone {
			// As ROLLBACK TO, RELEASE fails if the transaction is gone.
			if _, err := tx.ExecContext(bg, `RELEASE w`); err != nil {
				lost, op.ok = err, true // fails below, with the others
				break
			}
		}
		op.ok = true
	}
	if lost != nil {
		tx.Rollback()
		err := sessions.Unavailable(fmt.Errorf("sqlite: transaction lost: %w", lost))
		for _, op := range ops[:n] {
			if op.ok {
				op.err, op.ok = err, false
			}
		}
		return n
	}
	if err := tx.Commit(); err != nil {
		// A failed COMMIT may leave the transaction open; end it so that
		// the connection can start the next.
		conn.ExecContext(bg, `ROLLBACK`)
		err = mapErr(err)
		for _, op := range ops[:n] {
			if op.ok {
				op.err, op.ok = err, false
			}
		}
	}
	return n
}

// call runs op's fn in tx, turning a panic into an error (the panic is
// raised again in op's caller: the leader runs other callers' writes).
func (op *writeOp) call(tx *sql.Tx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			op.panicked, op.panicVal = true, v
			err = fmt.Errorf("sqlite: write panicked: %v", v)
		}
	}()
	return op.fn(tx)
}

// setInterruptible sets whether the statements of the writer connection
// conn are interrupted when their ctx ends.
func setInterruptible(conn *sql.Conn, on bool) {
	conn.Raw(func(dc any) error {
		if c, ok := dc.(*cachingConn); ok {
			c.uninterruptible = !on
		}
		return nil
	})
}
