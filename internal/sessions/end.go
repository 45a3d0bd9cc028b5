package sessions

import (
	"strings"
	"unicode/utf8"
)

// EndReason is why a session ended. Revocations record theirs when they
// happen; expiry is not an event anyone writes, so its reason is worked
// out when an ended session is read (see Config.EndOf).
type EndReason string

// The reasons a session ends.
const (
	// ReasonSignedOut: the application ended the session by its token
	// (POST /api/sessions/revoke).
	ReasonSignedOut EndReason = "signed_out"
	// ReasonRevoked: the session was revoked by its ID.
	ReasonRevoked EndReason = "revoked"
	// ReasonRevokedAll: the session went with all of its user's sessions
	// ("sign out everywhere", possibly but for one).
	ReasonRevokedAll EndReason = "revoked_all"
	// ReasonExpiredIdle: the session was not used for its sliding lifetime.
	ReasonExpiredIdle EndReason = "expired_idle"
	// ReasonExpiredAbsolute: the session reached its absolute lifetime.
	ReasonExpiredAbsolute EndReason = "expired_absolute"
	// ReasonUserErased: the session's user was erased. Erasing deletes the
	// user's sessions, so no listing ever shows this reason; it names the
	// event for those that report endings as they happen.
	ReasonUserErased EndReason = "user_erased"
	// ReasonBulkRevoked: the session matched a bulk revocation's filter.
	ReasonBulkRevoked EndReason = "bulk_revoked"
)

// EndReasons lists every EndReason.
var EndReasons = []EndReason{ReasonSignedOut, ReasonRevoked, ReasonRevokedAll,
	ReasonExpiredIdle, ReasonExpiredAbsolute, ReasonUserErased, ReasonBulkRevoked}

// EndOf returns when the ended session s ended and why.
//
// A revoked session ended at RevokedAt, for the reason its revocation
// stored; one revoked without a stored reason (before reasons were
// recorded, or loaded in bulk as revoked) reads as ReasonRevoked. An
// expired session ended at ExpiresAt: ReasonExpiredAbsolute if that is (at
// or past) its absolute cap, InitiatedAt plus c's AbsoluteLifetime, else
// ReasonExpiredIdle. The cap is computed, not stored, so that expiry costs
// no column and no write: after the absolute lifetime is changed, sessions
// that expired under the old one are judged by the new one.
func (c Config) EndOf(s *Session) (at int64, reason EndReason) {
	if s.RevokedAt != 0 {
		if s.EndReason == "" {
			return s.RevokedAt, ReasonRevoked
		}
		return s.RevokedAt, s.EndReason
	}
	if s.ExpiresAt >= s.InitiatedAt+seconds(c.AbsoluteLifetime) {
		return s.ExpiresAt, ReasonExpiredAbsolute
	}
	return s.ExpiresAt, ReasonExpiredIdle
}

// EndedAt returns when the session ended, if it has: RevokedAt for a
// revoked session, else ExpiresAt.
func (s *Session) EndedAt() int64 {
	if s.RevokedAt != 0 {
		return s.RevokedAt
	}
	return s.ExpiresAt
}

// Status selects the sessions a listing shows.
type Status string

// The statuses a user's sessions can be listed by.
const (
	// StatusActive lists sessions neither revoked nor expired (the
	// default, and the seed's behaviour).
	StatusActive Status = "active"
	// StatusEnded lists sessions revoked or expired that the background
	// purge has not deleted yet: they stay for the retention period.
	StatusEnded Status = "ended"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return s == StatusActive || s == StatusEnded }

// BulkFilter selects the active sessions of a tenant that a bulk
// revocation ends. Every set member must match; a zero member matches
// everything. The API never accepts a filter with no member set (see
// Check), so that a mistake cannot revoke a whole tenant.
type BulkFilter struct {
	UserID   string // only this user's sessions
	ClientID string // only sessions this client took part in
	// Country keeps the sessions whose last_metadata country is exactly
	// this English name (as GeoIP gives it); sessions without a known
	// country never match.
	Country string
	// IdleLongerThan keeps sessions whose last activity is more than this
	// many seconds ago.
	IdleLongerThan int64
	// StartedBefore keeps sessions initiated before this Unix time.
	StartedBefore int64
	// After keeps only sessions whose ID sorts after it: the cursor with
	// which a bulk revocation walks the tenant in batches. It is not part
	// of what a caller asks for, and Empty and Check ignore it.
	After string
}

// Empty reports whether f has no member set (After aside).
func (f BulkFilter) Empty() bool {
	return f.UserID == "" && f.ClientID == "" && f.Country == "" && f.IdleLongerThan == 0 && f.StartedBefore == 0
}

// MaxCountryLen is the longest country name a filter accepts, in
// characters: longer than any English country name.
const MaxCountryLen = 200

// Check validates f, reporting problems under "filter.<member>" and an
// empty filter under "filter".
func (f BulkFilter) Check() error {
	p := Problems{}
	f.check(p)
	return p.Err()
}

func (f BulkFilter) check(p Problems) {
	if f.Empty() {
		p.Add("filter", "must set at least one of user_id, client_id, country, idle_longer_than, started_before")
	}
	if f.UserID != "" {
		if msg := CheckID(f.UserID); msg != "" {
			p.Add("filter.user_id", msg)
		}
	}
	if f.ClientID != "" {
		if msg := CheckID(f.ClientID); msg != "" {
			p.Add("filter.client_id", msg)
		}
	}
	if f.Country != "" {
		switch {
		case !utf8.ValidString(f.Country):
			p.Add("filter.country", "must be valid UTF-8")
		case utf8.RuneCountInString(f.Country) > MaxCountryLen:
			p.Add("filter.country", "must be at most 200 characters")
		case strings.IndexByte(f.Country, 0) >= 0:
			p.Add("filter.country", "must not contain U+0000")
		}
	}
	if f.IdleLongerThan < 0 {
		p.Add("filter.idle_longer_than", "must be an integer >= 1")
	}
	if f.StartedBefore < 0 {
		p.Add("filter.started_before", "must be an integer >= 1")
	}
	if f.After != "" {
		if msg := CheckSessionID(f.After); msg != "" {
			p.Add("after", msg)
		}
	}
}
