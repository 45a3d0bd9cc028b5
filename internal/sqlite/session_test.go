package sqlite

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestDecodeStrings checks decodeStrings against json.Unmarshal, which it
// must match on every input: what clientsJSON writes and what it does not.
func TestDecodeStrings(t *testing.T) {
	for _, in := range []string{
		clientsJSON(nil), clientsJSON([]string{"web"}), clientsJSON([]string{"web", "ios", "android"}),
		clientsJSON([]string{"São Paulo", "a\"b", `c\d`, "<&>", "tab\there", ""}),
		`[]`, `[""]`, `["a",""]`, `null`, ``, `[`, `]`, `["a"`, `["a",]`, `[,"a"]`, `["a""b"]`, `["a" ]`, `[ "a"]`,
		`[1]`, `["a",1]`, `{"a":1}`, `["\u00e9"]`, "[\"\x01\"]", "[\"\xff\"]",
	} {
		var want []string
		wantErr := json.Unmarshal([]byte(in), &want)
		got, err := decodeStrings(in)
		if (err != nil) != (wantErr != nil) || !reflect.DeepEqual(got, want) && wantErr == nil {
			t.Errorf("decodeStrings(%q): got %#v, %v; want %#v, %v", in, got, err, want, wantErr)
		}
	}
}
