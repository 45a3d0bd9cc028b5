package sessions

import (
	"context"
	"encoding/json"
	"strconv"
	"time"
)

// EventType names what happened to a session or a user. Event types are
// part of the API: a receiver switches on them, so they never change
// meaning, and new ones may be added (receivers ignore types they do not
// know).
type EventType string

// The events sessiond records. Every write that changes whether a session
// can be used, or who took part in it, records exactly one event per
// session it changes, in the same transaction as the change: a write that
// fails records nothing, and a write that commits cannot lose its event.
const (
	// EventSessionStarted: a session started (POST .../sessions). Data:
	// client_id, the application that started it.
	EventSessionStarted EventType = "session.started"
	// EventClientJoined: another application validated the session for
	// the first time and joined its client_ids. Data: client_id.
	EventClientJoined EventType = "session.client_joined"
	// EventSessionRevoked: the session was revoked through the management
	// API. Data: reason (revoked, revoked_all or bulk_revoked) and
	// ended_by, the ID of the API key that asked (null if unknown).
	EventSessionRevoked EventType = "session.revoked"
	// EventSessionSignedOut: the application ended the session by its
	// token. Data: reason (signed_out) and ended_by.
	EventSessionSignedOut EventType = "session.signed_out"
	// EventSessionExpired: the session reached its expires_at. Nobody
	// writes at that moment, so the janitor records it on its next round
	// (occurred_at is then, expired_at in data is the moment itself).
	// Data: reason (expired_idle or expired_absolute) and expired_at.
	EventSessionExpired EventType = "session.expired"
	// EventUserErased: the user was erased with every session of theirs.
	// It has no session_id; data.session_ids lists the sessions the
	// erasure deleted (active or ended and not yet purged), so that a
	// gateway can drop them all.
	EventUserErased EventType = "user.erased"
)

// EventTypes lists every EventType.
var EventTypes = []EventType{EventSessionStarted, EventClientJoined, EventSessionRevoked,
	EventSessionSignedOut, EventSessionExpired, EventUserErased}

// Event is one entry of the outbox: something that happened to a session
// or a user, kept for the retention period so that it can be read from
// the feed (GET /api/events) and delivered to webhooks.
//
// Seq orders all events: a later event of a session always has a higher
// Seq, and a store never makes an event visible after one with a higher
// Seq (SQLite has one writer; PostgreSQL takes a lock before it writes
// events, so they commit in Seq order). A reader that remembers the last
// Seq it saw therefore misses nothing by asking for the ones after it.
type Event struct {
	Seq        int64
	TenantID   int64
	Type       EventType
	UserID     string
	SessionID  string // "" for user.erased
	OccurredAt int64  // Unix seconds
	Data       EventData
}

// ID is the event's identifier on the wire, which is also the feed's
// cursor: its Seq in decimal.
func (e *Event) ID() string { return strconv.FormatInt(e.Seq, 10) }

// EventData holds what an event's type carries; members a type does not
// use are zero. DataJSON gives the wire form.
type EventData struct {
	ClientID   string    `json:"client_id,omitempty"`
	Reason     EndReason `json:"reason,omitempty"`
	EndedBy    string    `json:"ended_by,omitempty"`
	ExpiredAt  int64     `json:"expired_at,omitempty"`
	SessionIDs []string  `json:"session_ids,omitempty"`
}

// DataJSON returns the event's data object as the API shows it and the
// stores keep it: exactly the members of its type, ended_by null when
// not known, session_ids never null.
func (e *Event) DataJSON() []byte {
	var v any
	d := e.Data
	switch e.Type {
	case EventSessionStarted, EventClientJoined:
		v = struct {
			ClientID string `json:"client_id"`
		}{d.ClientID}
	case EventSessionRevoked, EventSessionSignedOut:
		var by *string
		if d.EndedBy != "" {
			by = &d.EndedBy
		}
		v = struct {
			Reason  EndReason `json:"reason"`
			EndedBy *string   `json:"ended_by"`
		}{d.Reason, by}
	case EventSessionExpired:
		v = struct {
			Reason    EndReason `json:"reason"`
			ExpiredAt int64     `json:"expired_at"`
		}{d.Reason, d.ExpiredAt}
	case EventUserErased:
		ids := d.SessionIDs
		if ids == nil {
			ids = []string{}
		}
		v = struct {
			SessionIDs []string `json:"session_ids"`
		}{ids}
	default:
		v = d
	}
	b, _ := json.Marshal(v) // strings and integers always encode
	return b
}

// ParseEventData decodes what DataJSON made.
func ParseEventData(b []byte) (EventData, error) {
	var d EventData
	err := json.Unmarshal(b, &d)
	return d, err
}

// StartedEvent is the event of a session's start.
func StartedEvent(s *Session) Event {
	e := Event{TenantID: s.TenantID, Type: EventSessionStarted, UserID: s.UserID, SessionID: s.ID, OccurredAt: s.InitiatedAt}
	if len(s.ClientIDs) > 0 {
		e.Data.ClientID = s.ClientIDs[0]
	}
	return e
}

// JoinedEvent is the event of client joining session s at at.
func JoinedEvent(s *Session, client string, at int64) Event {
	return Event{TenantID: s.TenantID, Type: EventClientJoined, UserID: s.UserID, SessionID: s.ID, OccurredAt: at,
		Data: EventData{ClientID: client}}
}

// EndedEvent is the event of a revocation for reason (session.signed_out
// for ReasonSignedOut, session.revoked for the others) by the API key
// with ID by ("" if none) at at.
func EndedEvent(tenantID int64, userID, sessionID string, reason EndReason, by string, at int64) Event {
	typ := EventSessionRevoked
	if reason == ReasonSignedOut {
		typ = EventSessionSignedOut
	}
	return Event{TenantID: tenantID, Type: typ, UserID: userID, SessionID: sessionID, OccurredAt: at,
		Data: EventData{Reason: reason, EndedBy: by}}
}

// ExpiredEvent is the event of session s's expiry (at s.ExpiresAt, for
// reason), recorded at now.
func ExpiredEvent(s *Session, reason EndReason, now int64) Event {
	return Event{TenantID: s.TenantID, Type: EventSessionExpired, UserID: s.UserID, SessionID: s.ID, OccurredAt: now,
		Data: EventData{Reason: reason, ExpiredAt: s.ExpiresAt}}
}

// ErasedEvent is the event of a user's erasure at at, which deleted the
// sessions sessionIDs.
func ErasedEvent(tenantID int64, userID string, sessionIDs []string, at int64) Event {
	if sessionIDs == nil {
		sessionIDs = []string{}
	}
	return Event{TenantID: tenantID, Type: EventUserErased, UserID: userID, OccurredAt: at,
		Data: EventData{SessionIDs: sessionIDs}}
}

// Limits of the event feed.
const (
	DefaultEventLimit = 100
	MaxEventLimit     = 1000
	// ExpiryBatch is how many expired sessions one transaction of the
	// janitor records events for.
	ExpiryBatch = 500
)

// ParseCursor reads a feed cursor: an event ID, a decimal integer >= 0
// ("0" is before every event). It reports false for anything else.
func ParseCursor(s string) (int64, bool) {
	if s == "" || len(s) > 19 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// Events returns up to limit events of the tenant with Seq above after,
// oldest first. Returns EINVALID for a limit outside 1-MaxEventLimit or
// a negative cursor.
func (s *Service) Events(ctx context.Context, tenantID, after int64, limit int) ([]*Event, error) {
	p := Problems{}
	if after < 0 {
		p.Add("after", "must be an event ID")
	}
	if limit < 1 || limit > MaxEventLimit {
		p.Add("limit", "must be an integer from 1 to 1000")
	}
	if err := p.Err(); err != nil {
		return nil, err
	}
	return s.store.ListEvents(ctx, tenantID, after, limit)
}

// EmitExpired records session.expired for up to batch sessions that have
// expired by the service's clock and have no such event yet, with the
// reason Config.EndOf gives, and returns how many it recorded.
func (s *Service) EmitExpired(ctx context.Context, batch int) (int, error) {
	return s.store.EmitExpired(ctx, s.Now(), batch, func(x *Session) EndReason {
		_, r := s.cfg.EndOf(x)
		return r
	})
}

// PurgeEvents deletes up to batch events recorded more than retention
// ago, with their webhook deliveries (dead letters included).
func (s *Service) PurgeEvents(ctx context.Context, retention time.Duration, batch int) (int, error) {
	return s.store.PurgeEvents(ctx, s.now().Add(-retention).Unix(), batch)
}

// JSON returns the event as the feed lists it and webhooks receive it:
// {"id", "type", "occurred_at", "user_id", "session_id" (null for
// user.erased), "data"}. One encoding for both, so a receiver can parse
// what it polls and what it is sent with the same code.
func (e *Event) JSON() []byte {
	var session *string
	if e.SessionID != "" {
		session = &e.SessionID
	}
	b, _ := json.Marshal(struct {
		ID         string          `json:"id"`
		Type       EventType       `json:"type"`
		OccurredAt int64           `json:"occurred_at"`
		UserID     string          `json:"user_id"`
		SessionID  *string         `json:"session_id"`
		Data       json.RawMessage `json:"data"`
	}{e.ID(), e.Type, e.OccurredAt, e.UserID, session, e.DataJSON()})
	return b
}
