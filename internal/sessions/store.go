package sessions

import "context"

// Store keeps tenants, API keys, users and sessions. Every method that
// writes does so in one transaction: on error nothing was written. A store
// that cannot reach its database returns EUNAVAILABLE.
//
// Every write that starts, joins or ends a session, or erases a user, also
// records its events (see EventType) in that same transaction, built by
// the constructors of event.go so that every store records the same ones:
// the outbox that the event feed and the webhooks read.
//
// Every implementation must pass the suite in internal/storetest.
type Store interface {
	// CreateAPIKey stores k, creating the tenant named k.TenantName if it
	// does not exist, and sets k.TenantID.
	CreateAPIKey(ctx context.Context, k *APIKey) error
	// APIKeyByHash returns the key with that hash, revoked or not.
	// Returns ENOTFOUND if there is none.
	APIKeyByHash(ctx context.Context, hash []byte) (*APIKey, error)
	// ListAPIKeys returns every key of every tenant, oldest first.
	ListAPIKeys(ctx context.Context) ([]*APIKey, error)
	// RevokeAPIKey marks the key revoked at now. Returns ENOTFOUND if there
	// is no such key; revoking a revoked key changes nothing.
	RevokeAPIKey(ctx context.Context, id string, now int64) error

	// TenantID returns the ID of the tenant named name. Returns ENOTFOUND
	// if there is none.
	TenantID(ctx context.Context, name string) (int64, error)
	// TenantPrivacy returns the tenant's privacy settings (the zero
	// Privacy until they are set). Returns ENOTFOUND for an unknown
	// tenant.
	TenantPrivacy(ctx context.Context, tenantID int64) (Privacy, error)
	// SetTenantPrivacy replaces the privacy settings of the tenant named
	// tenantName with p (DropEndedMetadataAfter kept in whole seconds).
	// Returns ENOTFOUND for an unknown tenant.
	SetTenantPrivacy(ctx context.Context, tenantName string, p Privacy) error

	// CreateSession stores a new session, registering its user on their
	// first session, and first, if not nil, as the first entry of its
	// activity trail, all in one transaction, and records StartedEvent
	// (also for a session stored as already ended: it did start). Returns
	// ECONFLICT if the ID or key is taken.
	CreateSession(ctx context.Context, s *Session, first *ActivityEntry) error
	// ListSessions returns one page of a user's sessions of q.Status at
	// q.Now (active, or ended: revoked or expired and not yet purged) and
	// how many sessions match the query in all. Ended sessions carry
	// EndReason and EndedBy as stored. Returns EINVALID for an unknown
	// status or sort field, and ENOTFOUND if the user is unknown in the
	// tenant.
	ListSessions(ctx context.Context, q ListQuery) ([]*Session, int, error)
	// GetSession returns an active session of the user at now. Returns
	// ENOTFOUND if the user or such a session does not exist.
	GetSession(ctx context.Context, tenantID int64, userID, sessionID string, now int64) (*Session, error)
	// SessionByKey returns the tenant's session with that session key,
	// whatever its state, until it is purged. Returns ENOTFOUND if none.
	SessionByKey(ctx context.Context, tenantID int64, key string) (*Session, error)
	// UpdateSession locks the session with that key, calls fn with its
	// current state and, if fn returns no error, writes back fn's changes
	// to ClientIDs (only appended to), ExpiresAt, LastUpdated,
	// LastMetadata, Countries and LastLocated. If fn also returns an entry,
	// it is appended to the session's activity trail and the trail is
	// trimmed to its newest keep entries, in the same transaction. Each
	// client that joins records JoinedEvent at fn's LastUpdated.
	// Concurrent updates of one session are serialised, so none is lost
	// and fn always sees a revocation that committed before it. fn must
	// not call the store. Returns EINVALID if keep < 1 (before calling fn),
	// fn's error, or ENOTFOUND if there is no such session.
	UpdateSession(ctx context.Context, tenantID int64, key string, fn func(*Session) (*ActivityEntry, error), keep int) (*Session, error)
	// ListActivity returns one page (1-based; size entries) of the activity
	// trail of an active session of the user at now, newest first (the
	// last recorded first), and how many entries the trail holds. Returns
	// EINVALID if page or size is below 1, and ENOTFOUND if the user or
	// such a session does not exist (as GetSession).
	ListActivity(ctx context.Context, tenantID int64, userID, sessionID string, now int64, page, size int) ([]*ActivityEntry, int, error)
	// RevokeSession revokes an active session of the user at now,
	// recording ReasonRevoked and by, the ID of the API key that revoked
	// it, and its EndedEvent. Returns ENOTFOUND if the user or such a session does not exist.
	RevokeSession(ctx context.Context, tenantID int64, userID, sessionID string, now int64, by string) error
	// RevokeSessionByKey revokes the session with that key if it is still
	// active, recording ReasonSignedOut and by and its EndedEvent; an
	// ended session keeps its reason and records nothing. Returns ENOTFOUND only if no session has that key.
	RevokeSessionByKey(ctx context.Context, tenantID int64, key string, now int64, by string) error
	// RevokeUserSessions revokes every active session of the user but the
	// one with ID except (none if ""), recording ReasonRevokedAll and by
	// and an EndedEvent per session, and returns how many it revoked. Returns ENOTFOUND, revoking
	// nothing, if the user is unknown or except is not an active session
	// of the user.
	RevokeUserSessions(ctx context.Context, tenantID int64, userID string, now int64, by, except string) (int, error)
	// CountMatching counts the tenant's sessions that are active at now
	// and match f (f.After included), and returns the first sampleSize of
	// them in session ID order: the order RevokeMatching takes them in.
	CountMatching(ctx context.Context, tenantID int64, f BulkFilter, now int64, sampleSize int) (int, []*Session, error)
	// RevokeMatching revokes, in one transaction, the first limit (at
	// least 1) of the tenant's sessions, in session ID order, that are
	// active at now and match f, recording ReasonBulkRevoked and by and
	// an EndedEvent per session, in session ID order. It
	// returns how many it revoked and the session ID to pass as f.After
	// for the next batch, "" when the batch found fewer than limit
	// sessions to take, so that none is left. Returns EINVALID if
	// limit < 1.
	RevokeMatching(ctx context.Context, tenantID int64, f BulkFilter, now int64, by string, limit int) (int, string, error)
	// DeleteUser erases the user and all their sessions with their
	// activity trails, and records one ErasedEvent at now listing the
	// sessions it deleted. Returns ENOTFOUND if the user is unknown.
	DeleteUser(ctx context.Context, tenantID int64, userID string, now int64) error

	// PurgeSessions deletes at most limit sessions that expired or were
	// revoked before `before`, with their activity trails, and returns how
	// many sessions it deleted. An expired session whose expiry event
	// is not recorded yet (see EmitExpired) is kept until it is, so that
	// no expiry goes unreported.
	PurgeSessions(ctx context.Context, before int64, limit int) (int, error)
	// ScrubEndedMetadata erases (sets to nil) the IP address, user agent
	// and location of up to limit sessions whose tenant has a positive
	// DropEndedMetadataAfter and that ended (were revoked, or expired with
	// their expiry event recorded) that long before now, together with the
	// same fields of their activity trail entries and the session's
	// Countries and LastLocated, and marks them so that no later call takes
	// them again. It returns how many sessions it scrubbed; sessions of
	// other tenants, active ones and ones that ended later are untouched.
	ScrubEndedMetadata(ctx context.Context, now int64, limit int) (int, error)
	// CountActiveSessions counts active sessions of all tenants at now.
	CountActiveSessions(ctx context.Context, now int64) (int64, error)

	// ListEvents returns up to limit (>= 1) events of the tenant with Seq
	// above after, in Seq order.
	ListEvents(ctx context.Context, tenantID, after int64, limit int) ([]*Event, error)
	// EmitExpired records ExpiredEvent, for the reason reasonOf gives, for
	// up to limit sessions of any tenant that are not revoked, expired at
	// or before now, and have no expiry event yet, marking each so that
	// its expiry is recorded once; it returns how many it recorded. Several
	// nodes may run it at once: each takes different sessions. reasonOf
	// sees the session's IDs, InitiatedAt and ExpiresAt, and must not call
	// the store.
	EmitExpired(ctx context.Context, now int64, limit int, reasonOf func(*Session) EndReason) (int, error)
	// PurgeEvents deletes at most limit events recorded (OccurredAt)
	// before `before`, oldest first, with their webhook deliveries, and
	// returns how many events it deleted.
	PurgeEvents(ctx context.Context, before int64, limit int) (int, error)

	// Ping checks that the database is reachable.
	Ping(ctx context.Context) error
	// Close releases the store's resources.
	Close() error
}
