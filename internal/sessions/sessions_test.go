package sessions

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCheckID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"alice", true},
		{"a", true},
		{"7", true},
		{"alice@example.com", true},
		{"auth0|5f7c8ec7c33c6c004bbafe82", true},
		{"a.b_c-d@e:f|g+h=i", true},
		{strings.Repeat("x", 128), true},
		{"", false},
		{strings.Repeat("x", 129), false},
		{"_alice", false},
		{".alice", false},
		{"al ice", false},
		{"alice/bob", false},
		{"alice%", false},
		{"ålice", false},
		{"alice\x00", false},
	}
	for _, tt := range tests {
		if got := CheckID(tt.id) == ""; got != tt.want {
			t.Errorf("CheckID(%q) valid = %v, want %v (%s)", tt.id, got, tt.want, CheckID(tt.id))
		}
	}
}

func TestCheckSessionID(t *testing.T) {
	if msg := CheckSessionID(NewSessionID()); msg != "" {
		t.Errorf("CheckSessionID(NewSessionID()) = %q, want valid", msg)
	}
	for _, id := range []string{"", "96484d319acc21380cce026e54807b4d", "96484D319ACC21380CCE026E54807B4", "96484D319ACC21380CCE026E54807B4DA", "96484D319ACC21380CCE026E54807B4G"} {
		if CheckSessionID(id) == "" {
			t.Errorf("CheckSessionID(%q) = valid, want invalid", id)
		}
	}
}

func TestSecrets(t *testing.T) {
	tok, key := NewToken(), NewAPIKeySecret()
	if !WellFormedToken(tok) || WellFormedAPIKey(tok) {
		t.Errorf("token %q: well-formed token/key = %v/%v, want true/false", tok, WellFormedToken(tok), WellFormedAPIKey(tok))
	}
	if !WellFormedAPIKey(key) || WellFormedToken(key) {
		t.Errorf("key: well-formed key/token = %v/%v, want true/false", WellFormedAPIKey(key), WellFormedToken(key))
	}
	if NewToken() == tok || NewAPIKeySecret() == key || NewSessionID() == NewSessionID() {
		t.Error("two secrets or IDs are equal")
	}
	for _, bad := range []string{"", "sdk_", key[:len(key)-1], key + "A", key[:10] + "!" + key[11:], "SDK_" + key[4:]} {
		if WellFormedAPIKey(bad) {
			t.Errorf("WellFormedAPIKey(%q) = true, want false", bad)
		}
	}
	sk := SessionKey("x")
	if want := "2D711642B726B04401627CA9FBAC32F5C8530FB1903CC4DB02258717921A4881"; sk != want {
		t.Errorf("SessionKey(x) = %s, want %s", sk, want)
	}
	if !SecretsEqual(HashAPIKey(key), HashAPIKey(key)) || SecretsEqual(HashAPIKey(key), HashAPIKey(tok)) {
		t.Error("SecretsEqual disagrees with equality")
	}
}

func TestParseScopes(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		wantErr bool
	}{
		{"sessions:read", "sessions:read", false},
		{"sessions:read, sessions:write,sessions:read", "sessions:read,sessions:write", false},
		{"sessions:read,users:delete,sessions:revoke", "sessions:read,users:delete,sessions:revoke", false},
		{"", "", true},
		{" , ", "", true},
		{"sessions:admin", "", true},
		{"sessions:read,nope", "", true},
	}
	for _, tt := range tests {
		got, err := ParseScopes(tt.in)
		if (err != nil) != tt.wantErr {
			t.Errorf("ParseScopes(%q) err = %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Errorf("ParseScopes(%q) code = %s, want %s", tt.in, ErrorCode(err), EINVALID)
			}
			continue
		}
		var s []string
		for _, sc := range got {
			s = append(s, string(sc))
		}
		if g := strings.Join(s, ","); g != tt.want {
			t.Errorf("ParseScopes(%q) = %s, want %s", tt.in, g, tt.want)
		}
	}
}

func TestConfigExpiresAt(t *testing.T) {
	sliding := Config{Expiration: Sliding, SlidingLifetime: time.Hour, AbsoluteLifetime: 10 * time.Hour}
	absolute := Config{Expiration: Absolute, SlidingLifetime: time.Hour, AbsoluteLifetime: 10 * time.Hour}
	const start = 1_000_000
	tests := []struct {
		name         string
		cfg          Config
		active, want int64
	}{
		{"sliding at start", sliding, start, start + 3600},
		{"sliding moves with activity", sliding, start + 600, start + 4200},
		{"sliding capped by absolute", sliding, start + 9*3600 + 1800, start + 10*3600},
		{"absolute ignores activity", absolute, start + 600, start + 10*3600},
		{"sub-second lifetime rounds up", Config{Expiration: Sliding, SlidingLifetime: 500 * time.Millisecond, AbsoluteLifetime: time.Hour}, start, start + 1},
	}
	for _, tt := range tests {
		if got := tt.cfg.ExpiresAt(start, tt.active); got != tt.want {
			t.Errorf("%s: ExpiresAt = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("DefaultConfig().Validate() = %v, want nil", err)
	}
	bad := Config{Expiration: "forever", SlidingLifetime: 0, AbsoluteLifetime: -time.Second, TouchInterval: -time.Second,
		TrailLimit: -1, MaxTravelSpeed: -1}
	err := bad.Validate()
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("Validate() = %v, want *Error", err)
	}
	for _, f := range []string{"session-expiration", "sliding-lifetime", "absolute-lifetime", "touch-interval", "activity-limit", "travel-speed"} {
		if len(e.Fields[f]) == 0 {
			t.Errorf("Validate() fields = %v, want a problem with %s", e.Fields, f)
		}
	}

	// The trail settings alone.
	tests := []struct {
		limit int
		speed float64
		want  []string // fields with a problem
	}{
		{0, 0, nil}, // the defaults
		{1, 0.5, nil},
		{MaxTrailLimit, 1e6, nil},
		{MaxTrailLimit + 1, 1000, []string{"activity-limit"}},
		{-5, 1000, []string{"activity-limit"}},
		{100, -1, []string{"travel-speed"}},
		{100, math.NaN(), []string{"travel-speed"}},
		{100, math.Inf(1), []string{"travel-speed"}},
	}
	for _, tt := range tests {
		c := DefaultConfig()
		c.TrailLimit, c.MaxTravelSpeed = tt.limit, tt.speed
		var got []string
		if e, ok := c.Validate().(*Error); ok {
			for f := range e.Fields {
				got = append(got, f)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("Validate(limit %d, speed %v): got problems with %q, want %q", tt.limit, tt.speed, got, tt.want)
		}
	}
}

func TestConfigTrailDefaults(t *testing.T) {
	if d := DefaultConfig(); d.TrailLimit != 100 || d.MaxTravelSpeed != 1000 {
		t.Errorf("DefaultConfig: got limit %d, speed %v, want 100, 1000", d.TrailLimit, d.MaxTravelSpeed)
	}
	// A Config written without the trail settings gets the defaults.
	svc := NewService(nil, Config{Expiration: Sliding, SlidingLifetime: time.Hour, AbsoluteLifetime: time.Hour}, nil, nil)
	if c := svc.Config(); c.TrailLimit != DefaultTrailLimit || c.MaxTravelSpeed != DefaultMaxTravelSpeed {
		t.Errorf("Config() of a service given zero trail settings: got limit %d, speed %v, want %d, %v",
			c.TrailLimit, c.MaxTravelSpeed, DefaultTrailLimit, DefaultMaxTravelSpeed)
	}
	svc = NewService(nil, Config{TrailLimit: 7, MaxTravelSpeed: 50}, nil, nil)
	if c := svc.Config(); c.TrailLimit != 7 || c.MaxTravelSpeed != 50 {
		t.Errorf("Config() of a service given trail settings: got limit %d, speed %v, want 7, 50", c.TrailLimit, c.MaxTravelSpeed)
	}
}

func TestDistance(t *testing.T) {
	paris := Fix{Latitude: 48.856613, Longitude: 2.352222}
	tests := []struct {
		name string
		a, b Fix
		km   float64
	}{
		{"same point", paris, paris, 0},
		{"Paris to New York", paris, Fix{Latitude: 40.712776, Longitude: -74.005974}, 5837},
		{"Paris to Lyon", paris, Fix{Latitude: 45.764043, Longitude: 4.835659}, 391},
		{"across the antimeridian", Fix{Latitude: 0, Longitude: 179.5}, Fix{Latitude: 0, Longitude: -179.5}, 111},
		{"pole to pole", Fix{Latitude: 90}, Fix{Latitude: -90}, 20015},
		{"antipodes", Fix{Latitude: 0, Longitude: 0}, Fix{Latitude: 0, Longitude: 180}, 20015},
	}
	for _, tt := range tests {
		if got := distanceKm(tt.a, tt.b); math.Abs(got-tt.km) > 1 {
			t.Errorf("%s: got %.1f km, want %.0f", tt.name, got, tt.km)
		}
		if got, back := distanceKm(tt.a, tt.b), distanceKm(tt.b, tt.a); math.Abs(got-back) > 1e-9 {
			t.Errorf("%s: got %v one way and %v back", tt.name, got, back)
		}
	}
}

func TestFixOf(t *testing.T) {
	tests := []struct {
		lat, lon *string
		ok       bool
	}{
		{ptr("48.856613"), ptr("2.352222"), true},
		{ptr("-90"), ptr("180"), true},
		{nil, ptr("2.35"), false},
		{ptr("48.85"), nil, false},
		{ptr(""), ptr("2.35"), false},
		{ptr("north"), ptr("2.35"), false},
		{ptr("90.5"), ptr("2.35"), false},
		{ptr("48.85"), ptr("-180.1"), false},
		{ptr("NaN"), ptr("2.35"), false},
	}
	for _, tt := range tests {
		_, ok := fixOf(Location{Latitude: tt.lat, Longitude: tt.lon}, 1)
		if ok != tt.ok {
			t.Errorf("fixOf(%v, %v): got ok %v, want %v", deref(tt.lat), deref(tt.lon), ok, tt.ok)
		}
	}
}

func ptr(s string) *string { return &s }

func deref(p *string) string {
	if p == nil {
		return "nil"
	}
	return *p
}
