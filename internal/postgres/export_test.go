package postgres

import (
	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/sessions"
)

// Internals that the external tests inspect: the exact SQL whose plans
// they check, and the number of embedded migrations.
var (
	ListSQL           = listSQL
	CountSQL          = countSQL
	MatchCountSQL     = matchCountSQL
	MatchSampleSQL    = matchSampleSQL
	RevokeMatchingSQL = revokeMatchingSQL
)

const (
	SessionByKeySQL = sessionByKeySQL
	PurgeExpiredSQL = purgeExpiredSQL
	PurgeRevokedSQL = purgeRevokedSQL
	RevokeUserSQL   = revokeUserSQL

	CountActivitySQL = countActivitySQL
	ListActivitySQL  = listActivitySQL
	TrimActivitySQL  = trimActivitySQL

	ListEventsSQL = listEventsSQL
	ExpiredSQL    = expiredSQL
)

func MigrationCount() int {
	ms, err := migrations()
	if err != nil {
		panic(err)
	}
	return len(ms)
}

// MigrationSQL returns the text of the embedded migration of version v.
func MigrationSQL(v int) string {
	ms, err := migrations()
	if err != nil {
		panic(err)
	}
	for _, m := range ms {
		if m.version == v {
			return m.sql
		}
	}
	panic("no such migration")
}

// QueueEvents queues the statements with which a writer records es at the
// end of its transaction, for tests that hold such a transaction open.
func (s *Store) QueueEvents(b *pgx.Batch, es ...sessions.Event) { s.queueEvents(b, es...) }

// NewConns is how many connections the store's pool has opened.
func (s *Store) NewConns() int64 { return s.pool.Stat().NewConnsCount() }
