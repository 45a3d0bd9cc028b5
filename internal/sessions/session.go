// Package sessions is sessiond's domain: sessions, users, tenants, API keys,
// expiry rules and the Store contract that every storage backend implements.
// It imports only the standard library so that SQL and HTTP stay out of it.
package sessions

import (
	"net/netip"
	"slices"
	"time"
)

// Session is one signed-in session of a user. Times are Unix seconds, as on
// the wire.
type Session struct {
	TenantID  int64
	UserID    string
	ID        string // 32 upper-case hex digits
	Key       string // 64 upper-case hex digits: SHA-256 of the token
	ClientIDs []string
	// InitiatedAt, ExpiresAt and LastUpdated are Unix seconds.
	InitiatedAt  int64
	ExpiresAt    int64
	LastUpdated  int64
	LastMetadata Metadata
	// RevokedAt is 0 while the session has not been revoked.
	RevokedAt int64
}

// Active reports whether the session is neither revoked nor expired at now.
func (s *Session) Active(now int64) bool { return s.RevokedAt == 0 && s.ExpiresAt > now }

// HasClient reports whether clientID took part in the session.
func (s *Session) HasClient(clientID string) bool { return slices.Contains(s.ClientIDs, clientID) }

// Metadata is what the most recent recorded activity carried. A nil field
// is unknown.
type Metadata struct {
	IPAddress *string
	UserAgent *string
	Location
}

// Location is where an IP address is, as a GeoIP database tells.
type Location struct {
	Country   *string // English country name
	City      *string
	Region    *string // continent-level region, e.g. "North America"
	Latitude  *string // decimal degrees
	Longitude *string
}

// Locator finds the location of an IP address. Unknown, private and
// loopback addresses give the zero Location, never an error.
type Locator interface {
	Locate(ip netip.Addr) Location
}

// SortField is a key that sessions can be listed by.
type SortField string

// The sort keys of the seed document.
const (
	SortSessionID   SortField = "session_id"
	SortInitiatedAt SortField = "initiated_at"
	SortExpiresAt   SortField = "expires_at"
	SortLastUpdated SortField = "last_updated"
)

// SortFields lists every valid SortField.
var SortFields = []SortField{SortSessionID, SortInitiatedAt, SortExpiresAt, SortLastUpdated}

// Valid reports whether f is a known sort key.
func (f SortField) Valid() bool { return slices.Contains(SortFields, f) }

// ListQuery selects one page of a user's active sessions. Ties in the sort
// field are broken by session ID in the same direction, so pages never
// overlap or skip.
type ListQuery struct {
	TenantID int64
	UserID   string
	ClientID string // optional: only sessions this client took part in
	Sort     SortField
	Desc     bool
	Page     int // 1-based
	Size     int
	Now      int64 // sessions with ExpiresAt <= Now are not listed
}

// Offset is the number of sessions before the page.
func (q ListQuery) Offset() int { return (q.Page - 1) * q.Size }

// Paging limits of the list endpoint.
const (
	DefaultPageSize = 10
	MaxPageSize     = 100
)

// Activity is what an application reports with a session start or validation.
type Activity struct {
	ClientID  string
	IPAddress string // optional; IPv4 or IPv6
	UserAgent string // optional
}

// MaxUserAgentLen is the longest user agent accepted, in characters.
const MaxUserAgentLen = 1024

// ExpirationMode is how a session's expires_at moves.
type ExpirationMode string

// The expiration types of MonoCloud's session options.
const (
	Sliding  ExpirationMode = "sliding"
	Absolute ExpirationMode = "absolute"
)

// Config holds the expiry rules.
type Config struct {
	Expiration       ExpirationMode
	SlidingLifetime  time.Duration // idle lifetime under sliding expiry
	AbsoluteLifetime time.Duration // hard cap from initiated_at in both modes
	// TouchInterval is how often at most a validation that changes nothing
	// but the time is written. Zero writes every validation.
	TouchInterval time.Duration
}

// DefaultConfig is the configuration with the documented defaults.
func DefaultConfig() Config {
	return Config{
		Expiration:       Sliding,
		SlidingLifetime:  7 * 24 * time.Hour,
		AbsoluteLifetime: 30 * 24 * time.Hour,
		TouchInterval:    60 * time.Second,
	}
}

// ExpiresAt computes when a session started at initiated and last active at
// lastActive expires.
func (c Config) ExpiresAt(initiated, lastActive int64) int64 {
	abs := initiated + seconds(c.AbsoluteLifetime)
	if c.Expiration == Absolute {
		return abs
	}
	return min(lastActive+seconds(c.SlidingLifetime), abs)
}

func seconds(d time.Duration) int64 {
	// Round up so that a sub-second lifetime still lasts a moment.
	return int64((d + time.Second - 1) / time.Second)
}

// Validate checks the configuration.
func (c Config) Validate() error {
	p := Problems{}
	if c.Expiration != Sliding && c.Expiration != Absolute {
		p.Add("session-expiration", "must be sliding or absolute")
	}
	if c.SlidingLifetime <= 0 {
		p.Add("sliding-lifetime", "must be positive")
	}
	if c.AbsoluteLifetime <= 0 {
		p.Add("absolute-lifetime", "must be positive")
	}
	if c.TouchInterval < 0 {
		p.Add("touch-interval", "must not be negative")
	}
	return p.Err()
}
