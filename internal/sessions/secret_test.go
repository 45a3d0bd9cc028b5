package sessions

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
)

// TestSecretHashes checks the hashes against their definitions, for
// secrets on both sides of sha256Of's stack buffer.
func TestSecretHashes(t *testing.T) {
	for _, s := range []string{"", "x", NewToken(), NewAPIKeySecret(), strings.Repeat("a", 128), strings.Repeat("b", 129), strings.Repeat("é", 300)} {
		sum := sha256.Sum256([]byte(s))
		if got, want := SessionKey(s), strings.ToUpper(hex.EncodeToString(sum[:])); got != want {
			t.Errorf("SessionKey(%.20q...) = %s, want %s", s, got, want)
		}
		if got := HashAPIKey(s); string(got) != string(sum[:]) {
			t.Errorf("HashAPIKey(%.20q...) = %x, want %x", s, got, sum)
		}
	}
}
