package main

import (
	"context"
	"fmt"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

// The demo user the printed curl line asks for.
const demoUser = "alice"

type demoSession struct {
	user                  string
	clients               []string
	ip, ua                string
	country               string
	city                  string
	region                string
	lat, lon              string
	startedAgo, activeAgo time.Duration
}

// demoSessions are sessions from several countries and devices. Their
// locations are set directly, so the demo shows them without a GeoIP
// database.
var demoSessions = []demoSession{
	{demoUser, []string{"web-app"}, "203.0.113.10", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
		"United States of America", "Los Angeles", "North America", "34.043238", "-118.250918", 3 * time.Hour, 5 * time.Minute},
	{demoUser, []string{"mobile-app", "web-app"}, "198.51.100.23", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
		"United Kingdom of Great Britain and Northern Ireland", "London", "Europe", "51.507351", "-0.127758", 26 * time.Hour, 2 * time.Hour},
	{demoUser, []string{"web-app", "admin-console"}, "192.0.2.77", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
		"Germany", "Berlin", "Europe", "52.520008", "13.404954", 50 * time.Hour, 20 * time.Hour},
	{demoUser, []string{"mobile-app"}, "2001:db8::42", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
		"Japan", "Tokyo", "Asia", "35.689487", "139.691711", 5 * 24 * time.Hour, 30 * time.Hour},
	{"bob", []string{"web-app"}, "203.0.113.200", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
		"Brazil", "São Paulo", "South America", "-23.555771", "-46.639557", 8 * time.Hour, 10 * time.Minute},
	{"bob", []string{"mobile-app"}, "198.51.100.150", "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
		"Australia", "Sydney", "Oceania", "-33.868820", "151.209290", 72 * time.Hour, 6 * time.Hour},
	{"carol", []string{"web-app", "mobile-app"}, "192.0.2.180", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0",
		"India", "Mumbai", "Asia", "19.075984", "72.877656", 12 * time.Hour, 45 * time.Minute},
}

// seedDemo fills an empty store with demo users and sessions (a store that
// already has the demo user is left as it is) and returns a new admin API
// key with every scope, so each start with --demo prints a working key.
func seedDemo(ctx context.Context, svc *sessions.Service, store sessions.Store) (string, error) {
	k, secret, err := svc.CreateAPIKey(ctx, sessions.DefaultTenant, "demo-admin", sessions.Scopes)
	if err != nil {
		return "", err
	}
	_, _, err = store.ListSessions(ctx, sessions.ListQuery{TenantID: k.TenantID, UserID: demoUser, Sort: sessions.SortInitiatedAt, Page: 1, Size: 1, Now: svc.Now()})
	switch sessions.ErrorCode(err) {
	case "":
		return secret, nil // seeded before
	case sessions.ENOTFOUND:
	default:
		return "", err
	}
	now := time.Unix(svc.Now(), 0)
	cfg := svc.Config()
	for _, d := range demoSessions {
		s := &sessions.Session{
			TenantID:    k.TenantID,
			UserID:      d.user,
			ID:          sessions.NewSessionID(),
			Key:         sessions.SessionKey(sessions.NewToken()),
			ClientIDs:   d.clients,
			InitiatedAt: now.Add(-d.startedAgo).Unix(),
			LastUpdated: now.Add(-d.activeAgo).Unix(),
			LastMetadata: sessions.Metadata{
				IPAddress: &d.ip, UserAgent: &d.ua,
				Location: sessions.Location{Country: &d.country, City: &d.city, Region: &d.region, Latitude: &d.lat, Longitude: &d.lon},
			},
		}
		s.ExpiresAt = cfg.ExpiresAt(s.InitiatedAt, s.LastUpdated)
		if s.ExpiresAt <= now.Unix() {
			continue // lifetimes shorter than the demo's history
		}
		if err := store.CreateSession(ctx, s, sessions.FirstEntry(s)); err != nil {
			return "", err
		}
	}
	return secret, nil
}

func printDemo(env *environment, base, key string) {
	fmt.Fprintf(env.stdout, `
sessiond demo: an admin API key with every scope was created. It is shown only now:

    %s

List the demo user's sessions:

    curl -s -H "X-API-KEY: %s" "%s/api/users/%s/sessions?sort=last_updated:-1"

`, key, key, base, demoUser)
}
