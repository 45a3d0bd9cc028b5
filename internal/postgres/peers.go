package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Peers keeps the per-node caches (internal/cache) of every node sharing
// this database right, so that a session revoked through any node is not
// validated from another node's memory once the revocation has been
// answered.
//
// The protocol, in the database's own terms:
//
//   - Announcements. Triggers (migration 0006) NOTIFY a channel named
//     after the schema in the transaction of every change a cache must not
//     miss: a session ended, erased, purged or given other clients,
//     address, user agent or location, and a key changed. PostgreSQL
//     delivers notifications when, and only when, their transaction
//     commits, to every listening connection, in commit order.
//   - Leases. Each node listens on a connection of its own and, every
//     beat, renews its row in cache_nodes to now() + lease and NOTIFYs a
//     heartbeat of its own in the same transaction. When its listener
//     receives that heartbeat, it has received every announcement that
//     committed before it, so the node may serve from its cache until
//     lease (less a margin) after the moment it started the renewal, and
//     not a moment longer. A node whose listener or database is cut off
//     stops renewing and so stops serving from memory within a lease.
//   - Barriers. After a write that ends sessions or revokes a key has
//     committed (and announced itself), the writing node reads the nodes
//     whose lease has not run out and, if there are any, NOTIFYs a barrier,
//     then waits until each has acknowledged the barrier, which it does
//     once it has processed everything before it, or until that node's
//     lease has run out. Only then is the write answered. A node that
//     renews its lease after that read has, by the rule above, processed
//     the announcement first.
//
// On (re)connecting, the listener empties the cache before the node may
// serve from it again: announcements made while it was not listening are
// lost.
type Peers struct {
	store   *Store
	cfg     *pgx.ConnConfig
	node    string
	channel string
	lease   time.Duration
	beat    time.Duration
	margin  time.Duration
	logger  *slog.Logger

	start      time.Time    // monotonic base for validUntil
	validUntil atomic.Int64 // nanoseconds since start; the cache is usable before it
	conn       atomic.Int64 // listener connections made, so that a renewal that straddles a reconnection is not trusted

	mu      sync.Mutex
	beats   map[uint64]beat          // renewals awaiting their heartbeat
	waiters map[string]chan<- string // barrier ID -> acknowledging nodes
	seq     atomic.Uint64
}

// beat is a lease renewal: when it started and on which listener
// connection.
type beat struct {
	started time.Duration
	conn    int64
}

// Invalidator is what the listener changes: the cache.
type Invalidator interface {
	DropSession(tenantID int64, key string)
	DropKeys()
	Flush()
}

// Lease timings: a node serves from memory for at most DefaultLease after
// it last proved it was hearing the others, and a revocation waits at
// most that long for a node that has gone silent.
const (
	DefaultLease = 4 * time.Second
	defaultBeat  = time.Second
)

// Peers returns the coordination of this node's cache with the other
// nodes; it does nothing until Run. lease 0 takes DefaultLease.
func (s *Store) Peers(lease time.Duration, logger *slog.Logger) (*Peers, error) {
	if lease <= 0 {
		lease = DefaultLease
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := s.bound(context.Background())
	defer cancel()
	var channel string
	if err := s.pool.QueryRow(ctx, `SELECT sessiond_cache_channel(n.nspname)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = 'sessions'::regclass`).Scan(&channel); err != nil {
		return nil, storeErr(err)
	}
	b := make([]byte, 8)
	rand.Read(b)
	return &Peers{
		store:   s,
		cfg:     s.pool.Config().ConnConfig.Copy(),
		node:    hex.EncodeToString(b),
		channel: channel,
		lease:   lease,
		beat:    min(defaultBeat, lease/4),
		margin:  lease / 8,
		logger:  logger,
		start:   time.Now(),
		beats:   make(map[uint64]beat),
		waiters: make(map[string]chan<- string),
	}, nil
}

// Live reports whether the cache may serve from memory now.
func (p *Peers) Live() bool { return int64(time.Since(p.start)) < p.validUntil.Load() }

// stop makes the cache unusable until the next heartbeat is heard.
func (p *Peers) stop() { p.validUntil.Store(0) }

// Run listens and renews the lease until ctx ends, reconnecting after
// failures, and then gives the lease up.
func (p *Peers) Run(ctx context.Context, inv Invalidator) {
	var wg sync.WaitGroup
	wg.Go(func() { p.renew(ctx) })
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := p.listen(ctx, inv)
		p.stop()
		if ctx.Err() != nil {
			break
		}
		p.logger.Warn("cache: lost the peers' channel; serving from the database until it is back", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	wg.Wait()
	p.stop()
	dctx, cancel := p.store.bound(context.WithoutCancel(ctx))
	defer cancel()
	p.store.pool.Exec(dctx, `DELETE FROM cache_nodes WHERE node_id = $1`, p.node)
}

// listen holds the listener connection until it fails.
func (p *Peers) listen(ctx context.Context, inv Invalidator) error {
	cctx, cancel := p.store.bound(ctx)
	conn, err := pgx.ConnectConfig(cctx, p.cfg)
	cancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	cctx, cancel = p.store.bound(ctx)
	_, err = conn.Exec(cctx, "LISTEN "+pgx.Identifier{p.channel}.Sanitize())
	cancel()
	if err != nil {
		return err
	}
	// Whatever was announced before LISTEN is lost to this node.
	id := p.conn.Add(1)
	inv.Flush()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		p.handle(ctx, inv, n.Payload, id)
	}
}

// handle applies one notification, in the order they committed.
func (p *Peers) handle(ctx context.Context, inv Invalidator, msg string, conn int64) {
	switch {
	case msg == "k":
		inv.DropKeys()
	case strings.HasPrefix(msg, "s"):
		tenant, key, ok := strings.Cut(msg[1:], ":")
		t, err := strconv.ParseInt(tenant, 10, 64)
		if !ok || err != nil {
			inv.Flush()
			return
		}
		inv.DropSession(t, key)
	case strings.HasPrefix(msg, "h:"):
		node, n, _ := strings.Cut(msg[2:], ":")
		if node != p.node {
			return
		}
		seq, _ := strconv.ParseUint(n, 10, 64)
		p.mu.Lock()
		b, ok := p.beats[seq]
		delete(p.beats, seq)
		p.mu.Unlock()
		if ok && b.conn == conn {
			until := int64(b.started + p.lease - p.margin)
			if until > p.validUntil.Load() {
				p.validUntil.Store(until)
			}
		}
	case strings.HasPrefix(msg, "b:"):
		// Everything announced before the barrier has been applied.
		from, id, _ := strings.Cut(msg[2:], ":")
		if from != p.node {
			go func() {
				if err := p.notify(context.WithoutCancel(ctx), "a:"+from+":"+id+":"+p.node); err != nil {
					p.logger.Warn("cache: acknowledging a barrier failed", "err", err)
				}
			}()
		}
	case strings.HasPrefix(msg, "a:"):
		parts := strings.SplitN(msg[2:], ":", 3)
		if len(parts) == 3 && parts[0] == p.node {
			p.mu.Lock()
			ch := p.waiters[parts[1]]
			p.mu.Unlock()
			if ch != nil {
				select {
				case ch <- parts[2]:
				default: // the barrier has stopped waiting
				}
			}
		}
	default:
		inv.Flush() // unknown: be safe
	}
}

// notify sends msg to every listening node.
func (p *Peers) notify(ctx context.Context, msg string) error {
	ctx, cancel := p.store.bound(ctx)
	defer cancel()
	_, err := p.store.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, p.channel, msg)
	return err
}

// renew renews the lease every beat.
func (p *Peers) renew(ctx context.Context) {
	t := time.NewTicker(p.beat)
	defer t.Stop()
	for {
		if err := p.renewOnce(ctx); err != nil && ctx.Err() == nil {
			p.logger.Warn("cache: renewing the lease failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (p *Peers) renewOnce(ctx context.Context) error {
	seq := p.seq.Add(1)
	p.mu.Lock()
	p.beats[seq] = beat{started: time.Since(p.start), conn: p.conn.Load()}
	// Renewals whose heartbeat never came (a failed transaction) are
	// forgotten after a while.
	for k := range p.beats {
		if k+16 < seq {
			delete(p.beats, k)
		}
	}
	p.mu.Unlock()
	ctx, cancel := p.store.bound(ctx)
	defer cancel()
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO cache_nodes (node_id, lease_until) VALUES ($1, now() + make_interval(secs => $2))
		ON CONFLICT (node_id) DO UPDATE SET lease_until = EXCLUDED.lease_until`, p.node, p.lease.Seconds())
	b.Queue(`SELECT pg_notify($1, $2)`, p.channel, "h:"+p.node+":"+strconv.FormatUint(seq, 10))
	// Nodes gone for an hour are forgotten.
	b.Queue(`DELETE FROM cache_nodes WHERE lease_until < now() - interval '1 hour'`)
	return p.store.pool.SendBatch(ctx, b).Close()
}

// Barrier returns once every other node that may be serving from its
// cache has applied every change this node committed before the call, or
// its lease has run out. If the database cannot be asked, it waits a
// whole lease, after which no node that has not heard of the changes
// serves from memory.
func (p *Peers) Barrier(ctx context.Context) error {
	id := p.node + "." + strconv.FormatUint(p.seq.Add(1), 10)
	acks := make(chan string, 64)
	p.mu.Lock()
	p.waiters[id] = acks
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.waiters, id)
		p.mu.Unlock()
	}()

	started := time.Now()
	pending, err := p.leases(ctx)
	if err != nil {
		return p.sleep(ctx, p.lease+p.margin)
	}
	// Alone, there is nobody to wait for: a node that takes a lease later
	// hears the changes first (see Peers). This spares the barrier's own
	// NOTIFY, whose commit PostgreSQL serialises with every other one.
	if len(pending) == 0 {
		return nil
	}
	if err := p.notify(ctx, "b:"+p.node+":"+id); err != nil {
		return p.sleep(ctx, p.lease+p.margin)
	}
	// Wait for each node until it acknowledges or its lease has run out.
	for len(pending) > 0 {
		var next time.Time
		for node, until := range pending {
			if !time.Now().Before(until) {
				delete(pending, node)
			} else if next.IsZero() || until.Before(next) {
				next = until
			}
		}
		if len(pending) == 0 {
			break
		}
		t := time.NewTimer(time.Until(next))
		select {
		case node := <-acks:
			delete(pending, node)
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		t.Stop()
	}
	if d := time.Since(started); d > 100*time.Millisecond {
		p.logger.Warn("cache: a revocation waited for a silent node's lease", "waited", d)
	}
	return nil
}

// leases returns the other nodes that hold a lease, and until when (by
// this node's clock) each may serve from memory.
func (p *Peers) leases(ctx context.Context) (map[string]time.Time, error) {
	ctx, cancel := p.store.bound(ctx)
	defer cancel()
	now := time.Now()
	rows, err := p.store.pool.Query(ctx, `SELECT node_id, extract(epoch FROM lease_until - now())::float8
		FROM cache_nodes WHERE lease_until > now() AND node_id <> $1`, p.node)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	pending := make(map[string]time.Time)
	for rows.Next() {
		var node string
		var secs float64
		if err := rows.Scan(&node, &secs); err != nil {
			return nil, err
		}
		pending[node] = now.Add(time.Duration(secs*float64(time.Second)) + p.margin)
	}
	return pending, rows.Err()
}

func (p *Peers) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
