package sessions

import (
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
	bad := Config{Expiration: "forever", SlidingLifetime: 0, AbsoluteLifetime: -time.Second, TouchInterval: -time.Second}
	err := bad.Validate()
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("Validate() = %v, want *Error", err)
	}
	for _, f := range []string{"session-expiration", "sliding-lifetime", "absolute-lifetime", "touch-interval"} {
		if len(e.Fields[f]) == 0 {
			t.Errorf("Validate() fields = %v, want a problem with %s", e.Fields, f)
		}
	}
}
