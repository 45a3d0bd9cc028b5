package sessions

import (
	"slices"
	"strings"
)

// Scope is a permission an API key carries.
type Scope string

// The scopes of the API.
const (
	ScopeSessionsRead   Scope = "sessions:read"   // list and get sessions
	ScopeSessionsWrite  Scope = "sessions:write"  // start, validate and end sessions by token
	ScopeSessionsRevoke Scope = "sessions:revoke" // revoke one or all of a user's sessions
	ScopeUsersDelete    Scope = "users:delete"    // erase a user
)

// Scopes lists every scope.
var Scopes = []Scope{ScopeSessionsRead, ScopeSessionsWrite, ScopeSessionsRevoke, ScopeUsersDelete}

// ParseScopes parses a comma-separated list of scopes.
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	p := Problems{}
	for _, part := range strings.Split(s, ",") {
		sc := Scope(strings.TrimSpace(part))
		switch {
		case sc == "":
		case !slices.Contains(Scopes, sc):
			p.Add("scopes", "unknown scope "+string(sc))
		case !slices.Contains(out, sc):
			out = append(out, sc)
		}
	}
	if len(out) == 0 && len(p) == 0 {
		p.Add("scopes", "at least one scope is required")
	}
	return out, p.Err()
}

// DefaultTenant is the tenant keys belong to unless told otherwise.
const DefaultTenant = "default"

// APIKey is a credential for the API. Its secret is stored only as a hash.
type APIKey struct {
	ID         string // public, e.g. "key_1f2e3d4c5b6a7988"
	TenantID   int64
	TenantName string
	Name       string
	Scopes     []Scope
	Hash       []byte // SHA-256 of the secret
	CreatedAt  int64
	RevokedAt  int64 // 0 while valid
}

// Has reports whether the key carries scope.
func (k *APIKey) Has(scope Scope) bool { return slices.Contains(k.Scopes, scope) }
