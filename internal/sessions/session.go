// Package sessions is sessiond's domain: sessions, users, tenants, API keys,
// expiry rules and the Store contract that every storage backend implements.
// It imports only the standard library so that SQL and HTTP stay out of it.
package sessions

import (
	"fmt"
	"math"
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
	// EndReason is why a revoked session ended, and EndedBy the ID of the
	// API key that ended it ("" if none did, or if it is not known). A
	// store keeps both as the revocation wrote them, "" while the session
	// is not revoked; the Service fills in EndReason of the ended
	// sessions it lists (see Config.EndOf), expiry included.
	EndReason EndReason
	EndedBy   string

	// Countries lists the countries (English names, as in Location) that
	// the session's activity trail has been seen in, in the order first
	// seen; nil while none. LastLocated is the last trail entry that had
	// coordinates; nil while none. Both are kept on the session so that the
	// trail's rules (new country, impossible travel) are decided without
	// reading the trail, which is trimmed and may have lost the entries
	// that first saw a country. Neither is shown by the API.
	Countries   []string
	LastLocated *Fix
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

// ListQuery selects one page of a user's active sessions, or of their
// ended ones. Ties in the sort field are broken by session ID in the same
// direction, so pages never overlap or skip.
type ListQuery struct {
	TenantID int64
	UserID   string
	// Status selects active sessions ("" or StatusActive) or ended ones
	// (StatusEnded): revoked or expired at Now, and not yet purged.
	Status   Status
	ClientID string // optional: only sessions this client took part in
	Sort     SortField
	Desc     bool
	Page     int // 1-based
	Size     int
	Now      int64 // sessions with ExpiresAt <= Now have expired
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
	// TrailLimit is how many activity entries are kept per session, the
	// newest; older ones are dropped as new ones come. Zero means
	// DefaultTrailLimit, so that a Config written without it still works.
	TrailLimit int
	// MaxTravelSpeed, in km/h, is the fastest a user can plausibly move
	// between two located activities; faster is flagged as impossible
	// travel. Zero means DefaultMaxTravelSpeed.
	MaxTravelSpeed float64
}

// Defaults of the activity trail's settings.
const (
	// DefaultTrailLimit keeps weeks of a typical session's changes of
	// network or device while bounding what one session can store.
	DefaultTrailLimit = 100
	// DefaultMaxTravelSpeed is about an airliner's cruising speed.
	DefaultMaxTravelSpeed = 1000.0
)

// DefaultConfig is the configuration with the documented defaults.
func DefaultConfig() Config {
	return Config{
		Expiration:       Sliding,
		SlidingLifetime:  7 * 24 * time.Hour,
		AbsoluteLifetime: 30 * 24 * time.Hour,
		TouchInterval:    60 * time.Second,
		TrailLimit:       DefaultTrailLimit,
		MaxTravelSpeed:   DefaultMaxTravelSpeed,
	}
}

// withDefaults returns c with its zero trail settings set to the defaults.
func (c Config) withDefaults() Config {
	if c.TrailLimit == 0 {
		c.TrailLimit = DefaultTrailLimit
	}
	if c.MaxTravelSpeed == 0 {
		c.MaxTravelSpeed = DefaultMaxTravelSpeed
	}
	return c
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
	// Zero is "the default" (see withDefaults); anything else must be a
	// usable value.
	if c.TrailLimit < 0 || c.TrailLimit > MaxTrailLimit {
		p.Add("activity-limit", fmt.Sprintf("must be 1-%d", MaxTrailLimit))
	}
	if c.MaxTravelSpeed < 0 || math.IsNaN(c.MaxTravelSpeed) || math.IsInf(c.MaxTravelSpeed, 0) {
		p.Add("travel-speed", "must be a positive number of km/h")
	}
	return p.Err()
}
