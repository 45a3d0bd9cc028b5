package sessions

import (
	"slices"
	"strings"
	"testing"
)

func TestCheckActivityUserAgent(t *testing.T) {
	tests := []struct {
		ua   string
		want []string // messages under user_agent
	}{
		{"", nil},
		{"Mozilla/5.0 (X11; Linux x86_64)", nil},
		{"ctl \x01\t\n and odd \u2028 \ufeff \U0010FFFF", nil},
		{strings.Repeat("é", MaxUserAgentLen), nil},
		{strings.Repeat("é", MaxUserAgentLen+1), []string{"must be at most 1024 characters"}},
		{"bad \xff", []string{"must be valid UTF-8"}},
		{"nul \x00 byte", []string{"must not contain U+0000"}},
	}
	for _, tt := range tests {
		p := Problems{}
		checkActivity(p, Activity{ClientID: "app-1", UserAgent: tt.ua}, true)
		if got := p["user_agent"]; !slices.Equal(got, tt.want) {
			t.Errorf("user agent %q: got %q, want %q", tt.ua, got, tt.want)
		}
	}
}
