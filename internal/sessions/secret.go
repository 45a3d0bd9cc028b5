package sessions

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// Prefixes make a leaked secret recognisable (secret scanners, logs) and
// tell a session token from an API key at a glance.
const (
	tokenPrefix  = "sdt_"
	apiKeyPrefix = "sdk_"
	secretBytes  = 32 // 256 bits
)

// secretLen is the length of a token or key: prefix and unpadded base64url.
var secretLen = len(tokenPrefix) + base64.RawURLEncoding.EncodedLen(secretBytes)

func newSecret(prefix string) string {
	b := make([]byte, secretBytes)
	rand.Read(b) // never fails: see crypto/rand.Read
	return prefix + base64.RawURLEncoding.EncodeToString(b)
}

// NewToken returns a new session token: 256 random bits.
func NewToken() string { return newSecret(tokenPrefix) }

// NewAPIKeySecret returns a new API key: 256 random bits.
func NewAPIKeySecret() string { return newSecret(apiKeyPrefix) }

// SessionKey is the upper-case hex SHA-256 of a session token: what is
// stored and shown instead of the token. It runs on every validation, so
// it makes one allocation, the result.
func SessionKey(token string) string {
	const digits = "0123456789ABCDEF"
	sum := sha256Of(token)
	var out [2 * sha256.Size]byte
	for i, c := range sum {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&0xF]
	}
	return string(out[:])
}

// HashAPIKey is the SHA-256 of an API key, the only form it is stored in.
func HashAPIKey(key string) []byte {
	sum := sha256Of(key)
	return sum[:]
}

// sha256Of hashes s without copying it to the heap first, as []byte(s)
// would for a secret longer than 32 bytes.
func sha256Of(s string) [sha256.Size]byte {
	var buf [128]byte
	if len(s) <= len(buf) {
		return sha256.Sum256(append(buf[:0], s...))
	}
	return sha256.Sum256([]byte(s))
}

// SecretsEqual compares two hashes in constant time.
func SecretsEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// WellFormedAPIKey reports whether key has the form of an API key. A key of
// another form is rejected before any store lookup.
func WellFormedAPIKey(key string) bool { return wellFormed(key, apiKeyPrefix) }

// WellFormedToken reports whether token has the form of a session token.
func WellFormedToken(token string) bool { return wellFormed(token, tokenPrefix) }

func wellFormed(s, prefix string) bool {
	if len(s) != secretLen || !strings.HasPrefix(s, prefix) {
		return false
	}
	for _, c := range []byte(s[len(prefix):]) {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// NewSessionID returns 32 upper-case hex digits: 128 random bits.
func NewSessionID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}

// NewKeyID returns the public identifier of an API key: not a secret, it
// names the key in listings and revocation.
func NewKeyID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "key_" + hex.EncodeToString(b)
}

// MaxIDLen is the longest user or client ID.
const MaxIDLen = 128

// CheckID returns why id is not a valid user or client ID, or "".
// IDs are 1-128 characters from A-Z a-z 0-9 . _ - @ : | + =, the first a
// letter or digit.
func CheckID(id string) string {
	if id == "" {
		return "must not be empty"
	}
	if len(id) > MaxIDLen {
		return "must be at most 128 characters"
	}
	if !alnum(id[0]) {
		return "must start with a letter or digit"
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !alnum(c) && !strings.ContainsRune("._-@:|+=", rune(c)) {
			return "may contain only letters, digits and . _ - @ : | + ="
		}
	}
	return ""
}

func alnum(c byte) bool { return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

// CheckSessionID returns why id is not a valid session ID, or "".
func CheckSessionID(id string) string {
	if len(id) != 32 {
		return "must be 32 upper-case hexadecimal digits"
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= '0' && c <= '9' || c >= 'A' && c <= 'F') {
			return "must be 32 upper-case hexadecimal digits"
		}
	}
	return ""
}
