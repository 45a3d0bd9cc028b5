package sessions

import (
	"context"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"
)

// Service is what the API does with sessions: it owns the rules (token
// hashing, expiry, the touch interval, input validation) and leaves storage
// to a Store.
type Service struct {
	store   Store
	cfg     Config
	now     func() time.Time
	locator Locator
	// privacyCache keeps each tenant's Privacy for PrivacyCacheTTL, so
	// that validations do not read it from the store every time.
	privacyCache privacyCache
}

// NewService returns a Service. now is the clock (time.Now in production,
// a fake in tests); locator may be nil, leaving locations unknown. Zero
// trail settings in cfg take their defaults.
func NewService(store Store, cfg Config, now func() time.Time, locator Locator) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, cfg: cfg.withDefaults(), now: now, locator: locator}
}

// Config returns the expiry and trail rules in force.
func (s *Service) Config() Config { return s.cfg }

// Now returns the current time in Unix seconds, by the service's clock.
func (s *Service) Now() int64 { return s.now().Unix() }

// Authenticate returns the valid API key whose secret is key. Returns
// EUNAUTHORIZED for a missing, malformed, unknown or revoked key.
func (s *Service) Authenticate(ctx context.Context, key string) (*APIKey, error) {
	if key == "" {
		return nil, Errorf(EUNAUTHORIZED, "the X-API-KEY header is missing")
	}
	if !WellFormedAPIKey(key) {
		return nil, Errorf(EUNAUTHORIZED, "the API key is not valid")
	}
	hash := HashAPIKey(key)
	k, err := s.store.APIKeyByHash(ctx, hash)
	if ErrorCode(err) == ENOTFOUND {
		return nil, Errorf(EUNAUTHORIZED, "the API key is not valid")
	} else if err != nil {
		return nil, err
	}
	// The lookup was by hash already; comparing again in constant time
	// keeps the check independent of how a store matches.
	if !SecretsEqual(k.Hash, hash) || k.RevokedAt != 0 {
		return nil, Errorf(EUNAUTHORIZED, "the API key is not valid")
	}
	return k, nil
}

// CreateAPIKey creates a key in the named tenant (creating the tenant) and
// returns it with its secret, the only time the secret exists in clear.
func (s *Service) CreateAPIKey(ctx context.Context, tenant, name string, scopes []Scope) (*APIKey, string, error) {
	p := Problems{}
	if msg := CheckID(tenant); msg != "" {
		p.Add("tenant", msg)
	}
	if name == "" || len(name) > 200 {
		p.Add("name", "must be 1-200 characters")
	}
	if len(scopes) == 0 {
		p.Add("scopes", "at least one scope is required")
	}
	if err := p.Err(); err != nil {
		return nil, "", err
	}
	secret := NewAPIKeySecret()
	k := &APIKey{
		ID:         NewKeyID(),
		TenantName: tenant,
		Name:       name,
		Scopes:     scopes,
		Hash:       HashAPIKey(secret),
		CreatedAt:  s.Now(),
	}
	if err := s.store.CreateAPIKey(ctx, k); err != nil {
		return nil, "", err
	}
	return k, secret, nil
}

// checkActivity validates an activity's fields and returns the parsed IP.
func checkActivity(p Problems, a Activity, clientRequired bool) netip.Addr {
	if a.ClientID != "" || clientRequired {
		if msg := CheckID(a.ClientID); msg != "" {
			p.Add("client_id", msg)
		}
	}
	var ip netip.Addr
	if a.IPAddress != "" {
		var err error
		if ip, err = netip.ParseAddr(a.IPAddress); err != nil || ip.Zone() != "" {
			p.Add("ip_address", "must be an IPv4 or IPv6 address")
		}
	}
	if !utf8.ValidString(a.UserAgent) {
		p.Add("user_agent", "must be valid UTF-8")
	} else if utf8.RuneCountInString(a.UserAgent) > MaxUserAgentLen {
		p.Add("user_agent", "must be at most 1024 characters")
	}
	// PostgreSQL text cannot hold U+0000, and no real user agent has it:
	// refuse it here rather than fail in one store and not another.
	if strings.IndexByte(a.UserAgent, 0) >= 0 {
		p.Add("user_agent", "must not contain U+0000")
	}
	return ip
}

// apply records what activity a carried on s at now, under the tenant's
// privacy settings p: a new client joins, a new IP or user agent replaces
// the old one (fields a leaves empty keep their last known value), and
// expiry moves. ip must already be p.Mask'ed: a truncated address is what
// is compared, located and stored. Under LocationCountry the city and
// coordinates are dropped from the session and its entry (also from a
// location stored before the setting), so impossible travel is never
// flagged. If a changed the clients, the IP or the user agent, apply
// returns the trail entry to append (judged, with sess.Countries and
// sess.LastLocated updated); otherwise nil.
func (s *Service) apply(sess *Session, a Activity, ip netip.Addr, now int64, p Privacy) *ActivityEntry {
	e := &ActivityEntry{At: now, ClientID: a.ClientID}
	changed := false
	if a.ClientID != "" && !sess.HasClient(a.ClientID) {
		sess.ClientIDs = append(sess.ClientIDs, a.ClientID)
		changed = true
	}
	if ip.IsValid() {
		str := ip.Unmap().String()
		if sess.LastMetadata.IPAddress == nil || *sess.LastMetadata.IPAddress != str {
			sess.LastMetadata.IPAddress = &str
			sess.LastMetadata.Location = s.locate(ip)
			changed = true
		}
		sess.LastMetadata.Location = p.Coarsen(sess.LastMetadata.Location)
		// The same address as before keeps the location it was given
		// then, as the session does.
		e.IPAddress = &str
		e.Location = sess.LastMetadata.Location
	}
	if a.UserAgent != "" {
		ua := a.UserAgent
		if sess.LastMetadata.UserAgent == nil || *sess.LastMetadata.UserAgent != ua {
			changed = true
		}
		sess.LastMetadata.UserAgent = &ua
		e.UserAgent = &ua
	}
	if p.Location == LocationCountry {
		sess.LastLocated = nil
	}
	sess.LastUpdated = now
	sess.ExpiresAt = s.cfg.ExpiresAt(sess.InitiatedAt, now)
	if !changed {
		return nil
	}
	s.cfg.judge(sess, e)
	return e
}

func (s *Service) locate(ip netip.Addr) Location {
	if s.locator == nil {
		return Location{}
	}
	return s.locator.Locate(ip.Unmap())
}

// Start starts a session of userID in the key's tenant and returns it with
// its token, the only time the token exists in clear.
func (s *Service) Start(ctx context.Context, tenantID int64, userID string, a Activity) (*Session, string, error) {
	p := Problems{}
	if msg := CheckID(userID); msg != "" {
		p.Add("user_id", msg)
	}
	ip := checkActivity(p, a, true)
	if err := p.Err(); err != nil {
		return nil, "", err
	}
	priv, err := s.privacy(ctx, tenantID)
	if err != nil {
		return nil, "", err
	}
	ip = priv.Mask(ip)
	now := s.Now()
	token := NewToken()
	sess := &Session{
		TenantID:    tenantID,
		UserID:      userID,
		ID:          NewSessionID(),
		Key:         SessionKey(token),
		InitiatedAt: now,
	}
	// The start is the trail's first entry: a new client always joins.
	first := s.apply(sess, a, ip, now, priv)
	if err := s.store.CreateSession(ctx, sess, first); err != nil {
		return nil, "", err
	}
	return sess, token, nil
}

// needsWrite reports whether recording a on sess at now changes anything
// that must be stored: a client, IP (ip is already masked, so two
// addresses of one truncated network are the same) or user agent, or a
// touch older than the touch interval.
func (s *Service) needsWrite(sess *Session, a Activity, ip netip.Addr, now int64) bool {
	if a.ClientID != "" && !sess.HasClient(a.ClientID) {
		return true
	}
	if ip.IsValid() {
		if m := sess.LastMetadata.IPAddress; m == nil || *m != ip.String() {
			return true
		}
	}
	if a.UserAgent != "" {
		if m := sess.LastMetadata.UserAgent; m == nil || *m != a.UserAgent {
			return true
		}
	}
	return now-sess.LastUpdated >= seconds(s.cfg.TouchInterval)
}

// Validate returns the active session whose token is token and records the
// activity; one that changes the clients, the IP or the user agent also
// appends to the session's trail. Returns ENOTFOUND if the token is
// unknown, expired or revoked.
func (s *Service) Validate(ctx context.Context, tenantID int64, token string, a Activity) (*Session, error) {
	p := Problems{}
	checkToken(p, token)
	ip := checkActivity(p, a, false)
	if err := p.Err(); err != nil {
		return nil, err
	}
	if !WellFormedToken(token) {
		return nil, errSessionNotFound()
	}
	key := SessionKey(token)
	now := s.Now()
	sess, err := s.store.SessionByKey(ctx, tenantID, key)
	if ErrorCode(err) == ENOTFOUND {
		return nil, errSessionNotFound()
	} else if err != nil {
		return nil, err
	}
	if !sess.Active(now) {
		return nil, errSessionNotFound()
	}
	priv, err := s.privacy(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	ip = priv.Mask(ip)
	if !s.needsWrite(sess, a, ip, now) {
		return sess, nil
	}
	sess, err = s.store.UpdateSession(ctx, tenantID, key, func(cur *Session) (*ActivityEntry, error) {
		// Decide again on the locked row: a revocation may have won the
		// race, and another validation may have made this one a touch.
		if !cur.Active(now) {
			return nil, errSessionNotFound()
		}
		return s.apply(cur, a, ip, now, priv), nil
	}, s.cfg.TrailLimit)
	if ErrorCode(err) == ENOTFOUND {
		return nil, errSessionNotFound()
	}
	return sess, err
}

// errSessionNotFound is Validate's answer for a token that is unknown,
// expired or revoked, alike.
func errSessionNotFound() error {
	return &Error{Code: ENOTFOUND, Message: "the session does not exist or has ended"}
}

func checkToken(p Problems, token string) {
	switch {
	case token == "":
		p.Add("session_token", "is required")
	case len(token) > 256:
		p.Add("session_token", "must be at most 256 characters")
	}
}

// SignOut ends the session whose token is token, recording
// ReasonSignedOut and by, the ID of the API key that asked. Ending an
// ended session succeeds and keeps its reason; returns ENOTFOUND for a
// token never issued (or long purged).
func (s *Service) SignOut(ctx context.Context, tenantID int64, token, by string) error {
	p := Problems{}
	checkToken(p, token)
	if err := p.Err(); err != nil {
		return err
	}
	if !WellFormedToken(token) {
		return Errorf(ENOTFOUND, "no session has this token")
	}
	err := s.store.RevokeSessionByKey(ctx, tenantID, SessionKey(token), s.Now(), by)
	if ErrorCode(err) == ENOTFOUND {
		return Errorf(ENOTFOUND, "no session has this token")
	}
	return err
}

// List returns a page of the user's active or ended sessions (q.Status)
// and the total count. Ended sessions come with their EndReason filled in,
// expiry included (see Config.EndOf). q.Now is set by the service; the
// caller validates paging, sort and status.
func (s *Service) List(ctx context.Context, q ListQuery) ([]*Session, int, error) {
	q.Now = s.Now()
	list, total, err := s.store.ListSessions(ctx, q)
	if err != nil || q.Status != StatusEnded {
		return list, total, err
	}
	for _, sess := range list {
		_, sess.EndReason = s.cfg.EndOf(sess)
	}
	return list, total, nil
}

// Get returns an active session of the user.
func (s *Service) Get(ctx context.Context, tenantID int64, userID, sessionID string) (*Session, error) {
	if err := checkUserSession(userID, sessionID); err != nil {
		return nil, err
	}
	return s.store.GetSession(ctx, tenantID, userID, sessionID, s.Now())
}

// Activity returns a page of the activity trail of an active session of
// the user, newest first, and how many entries the trail holds. The
// caller validates paging. Returns ENOTFOUND as Get does.
func (s *Service) Activity(ctx context.Context, tenantID int64, userID, sessionID string, page, size int) ([]*ActivityEntry, int, error) {
	if err := checkUserSession(userID, sessionID); err != nil {
		return nil, 0, err
	}
	return s.store.ListActivity(ctx, tenantID, userID, sessionID, s.Now(), page, size)
}

// Revoke revokes an active session of the user, recording ReasonRevoked
// and by, the ID of the API key that asked.
func (s *Service) Revoke(ctx context.Context, tenantID int64, userID, sessionID, by string) error {
	if err := checkUserSession(userID, sessionID); err != nil {
		return err
	}
	return s.store.RevokeSession(ctx, tenantID, userID, sessionID, s.Now(), by)
}

// RevokeAll revokes every active session of the user but the one with ID
// except ("" for none: "sign out everywhere"; else "sign out everywhere
// else"), recording ReasonRevokedAll and by, and returns how many it
// revoked. Returns EINVALID for a malformed except, and ENOTFOUND,
// revoking nothing, if except is not an active session of the user: a
// caller that means to keep a session it no longer has would otherwise
// sign the user out everywhere without knowing.
func (s *Service) RevokeAll(ctx context.Context, tenantID int64, userID, except, by string) (int, error) {
	p := Problems{}
	if msg := CheckID(userID); msg != "" {
		p.Add("user_id", msg)
	}
	if except != "" {
		if msg := CheckSessionID(except); msg != "" {
			p.Add("except", msg)
		}
	}
	if err := p.Err(); err != nil {
		return 0, err
	}
	return s.store.RevokeUserSessions(ctx, tenantID, userID, s.Now(), by, except)
}

// EraseUser erases the user and everything recorded of them.
func (s *Service) EraseUser(ctx context.Context, tenantID int64, userID string) error {
	if err := checkUser(userID); err != nil {
		return err
	}
	return s.store.DeleteUser(ctx, tenantID, userID, s.Now())
}

// Purge deletes up to batch sessions that ended more than retention ago.
func (s *Service) Purge(ctx context.Context, retention time.Duration, batch int) (int, error) {
	return s.store.PurgeSessions(ctx, s.now().Add(-retention).Unix(), batch)
}

// CountActive counts the active sessions of all tenants.
func (s *Service) CountActive(ctx context.Context) (int64, error) {
	return s.store.CountActiveSessions(ctx, s.Now())
}

func checkUser(userID string) error {
	p := Problems{}
	if msg := CheckID(userID); msg != "" {
		p.Add("user_id", msg)
	}
	return p.Err()
}

func checkUserSession(userID, sessionID string) error {
	p := Problems{}
	if msg := CheckID(userID); msg != "" {
		p.Add("user_id", msg)
	}
	if msg := CheckSessionID(sessionID); msg != "" {
		p.Add("session_id", msg)
	}
	return p.Err()
}

// Ping checks that the store is reachable.
func (s *Service) Ping(ctx context.Context) error { return s.store.Ping(ctx) }
