package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/postgres/pgtest"
)

func TestTenantCommandsSQLite(t *testing.T) {
	checkTenantCommands(t, "sqlite:"+filepath.Join(t.TempDir(), "tenant.db"))
}

func TestTenantCommandsPostgres(t *testing.T) {
	checkTenantCommands(t, pgtest.URL(t))
}

// checkTenantCommands runs tenant show and tenant privacy on db: each
// privacy call changes only the settings it names.
func checkTenantCommands(t *testing.T, db string) {
	t.Helper()
	env := map[string]string{"SESSIOND_DB": db}
	if _, errOut, err := runCmd(t, env, "apikey", "create", "--name", "app", "--scopes", "sessions:read", "--tenant", "acme"); err != nil {
		t.Fatalf("apikey create: %v\n%s", err, errOut)
	}
	settings := func(out string) map[string]string {
		t.Helper()
		m := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			k, v, _ := strings.Cut(line, " ")
			m[k] = strings.TrimSpace(v)
		}
		return m
	}
	steps := []struct {
		name string
		args []string
		want map[string]string
	}{
		{"show the defaults", []string{"tenant", "show", "--tenant", "acme"},
			map[string]string{"tenant": "acme", "ip-truncation": "false", "location": "city", "drop-ended-metadata-after": "0 (kept until the session is purged)"}},
		{"truncate", []string{"tenant", "privacy", "--tenant", "acme", "--ip-truncation"},
			map[string]string{"tenant": "acme", "ip-truncation": "true", "location": "city", "drop-ended-metadata-after": "0 (kept until the session is purged)"}},
		{"country and drop", []string{"tenant", "privacy", "--tenant", "acme", "--location", "country", "--drop-ended-metadata-after", "720h"},
			map[string]string{"tenant": "acme", "ip-truncation": "true", "location": "country", "drop-ended-metadata-after": "720h0m0s"}},
		{"show them", []string{"tenant", "show", "--tenant", "acme"},
			map[string]string{"tenant": "acme", "ip-truncation": "true", "location": "country", "drop-ended-metadata-after": "720h0m0s"}},
		{"truncate no more", []string{"tenant", "privacy", "--tenant", "acme", "--ip-truncation=false"},
			map[string]string{"tenant": "acme", "ip-truncation": "false", "location": "country", "drop-ended-metadata-after": "720h0m0s"}},
	}
	for _, s := range steps {
		out, errOut, err := runCmd(t, env, s.args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", s.name, err, errOut)
		}
		got := settings(out)
		for k, v := range s.want {
			if got[k] != v {
				t.Errorf("%s: %s: got %q, want %q\n%s", s.name, k, got[k], v, out)
			}
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tenant", "show", "--tenant", "nobody"}, "tenant not found"},
		{[]string{"tenant", "privacy", "--tenant", "nobody", "--ip-truncation"}, "tenant not found"},
		{[]string{"tenant", "privacy", "--tenant", "acme", "--location", "street"}, "location must be city or country"},
		{[]string{"tenant", "privacy", "--tenant", "acme", "--drop-ended-metadata-after", "-1h"}, "must not be negative"},
		{[]string{"tenant"}, "want show or privacy"},
		{[]string{"tenant", "delete"}, "unknown command"},
	} {
		_, _, err := runCmd(t, env, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got error %v, want one containing %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}
