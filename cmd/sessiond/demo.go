package main

import (
	"context"
	"fmt"
	"net/netip"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

// The demo user the printed curl line asks for.
const demoUser = "alice"

// demoPlace is where a demo IP address is. The addresses are from the
// documentation ranges, which no real GeoIP database places, so the demo
// locates them itself.
type demoPlace struct {
	ip                              string
	country, city, region, lat, lon string
}

var (
	losAngeles = demoPlace{"203.0.113.10", "United States of America", "Los Angeles", "North America", "34.043238", "-118.250918"}
	newYork    = demoPlace{"203.0.113.44", "United States of America", "New York", "North America", "40.712776", "-74.005974"}
	london     = demoPlace{"198.51.100.23", "United Kingdom of Great Britain and Northern Ireland", "London", "Europe", "51.507351", "-0.127758"}
	paris      = demoPlace{"198.51.100.61", "France", "Paris", "Europe", "48.856613", "2.352222"}
	berlin     = demoPlace{"192.0.2.77", "Germany", "Berlin", "Europe", "52.520008", "13.404954"}
	tokyo      = demoPlace{"2001:db8::42", "Japan", "Tokyo", "Asia", "35.689487", "139.691711"}
	saoPaulo   = demoPlace{"203.0.113.200", "Brazil", "São Paulo", "South America", "-23.555771", "-46.639557"}
	sydney     = demoPlace{"198.51.100.150", "Australia", "Sydney", "Oceania", "-33.868820", "151.209290"}
	singapore  = demoPlace{"198.51.100.170", "Singapore", "Singapore", "Asia", "1.352083", "103.819836"}
	mumbai     = demoPlace{"192.0.2.180", "India", "Mumbai", "Asia", "19.075984", "72.877656"}
)

// demoLocator places the demo addresses.
type demoLocator map[netip.Addr]sessions.Location

func (l demoLocator) Locate(ip netip.Addr) sessions.Location { return l[ip] }

func newDemoLocator() demoLocator {
	l := demoLocator{}
	for _, p := range []demoPlace{losAngeles, newYork, london, paris, berlin, tokyo, saoPaulo, sydney, singapore, mumbai} {
		l[netip.MustParseAddr(p.ip)] = sessions.Location{Country: &p.country, City: &p.city, Region: &p.region, Latitude: &p.lat, Longitude: &p.lon}
	}
	return l
}

// demoSession is a session from its start until its last activity: it
// starts at the first place with the first client, then is seen at each
// further place, and the other clients join at the end.
type demoSession struct {
	user                  string
	clients               []string
	ua                    string
	places                []demoPlace
	startedAgo, activeAgo time.Duration
}

var demoSessions = []demoSession{
	{demoUser, []string{"web-app"}, "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
		[]demoPlace{newYork, losAngeles}, 3 * time.Hour, 5 * time.Minute},
	{demoUser, []string{"mobile-app", "web-app"}, "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
		[]demoPlace{paris, london}, 26 * time.Hour, 2 * time.Hour},
	{demoUser, []string{"web-app", "admin-console"}, "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
		[]demoPlace{berlin}, 50 * time.Hour, 20 * time.Hour},
	{demoUser, []string{"mobile-app"}, "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
		[]demoPlace{tokyo}, 5 * 24 * time.Hour, 30 * time.Hour},
	{"bob", []string{"web-app"}, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
		[]demoPlace{saoPaulo}, 8 * time.Hour, 10 * time.Minute},
	{"bob", []string{"mobile-app"}, "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
		[]demoPlace{singapore, sydney}, 72 * time.Hour, 6 * time.Hour},
	{"carol", []string{"web-app", "mobile-app"}, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36 Edg/126.0",
		[]demoPlace{mumbai}, 12 * time.Hour, 45 * time.Minute},
}

// seedDemo fills an empty store with demo users and sessions (a store that
// already has the demo user is left as it is) and returns a new admin API
// key with every scope, so each start with --demo prints a working key.
//
// The sessions are made by the real service on a clock set back to each
// past activity, so their expiry, activity trail and travel flags are
// what sessiond itself would have recorded.
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
	var at time.Time
	past := sessions.NewService(store, svc.Config(), func() time.Time { return at }, newDemoLocator())
	for _, d := range demoSessions {
		at = now.Add(-d.startedAgo)
		_, token, err := past.Start(ctx, k.TenantID, d.user, sessions.Activity{ClientID: d.clients[0], IPAddress: d.places[0].ip, UserAgent: d.ua})
		if err != nil {
			return "", err
		}
		// Further places between the start and the last activity, then
		// the last activity, where the other clients join (at least one
		// step, so the last activity is when the demo says).
		steps := max(1, len(d.places)-1+len(d.clients)-1)
		for i := 1; i <= steps; i++ {
			at = now.Add(-d.startedAgo + time.Duration(i)*(d.startedAgo-d.activeAgo)/time.Duration(steps))
			a := sessions.Activity{IPAddress: d.places[min(i, len(d.places)-1)].ip}
			if j := i - (len(d.places) - 1); j > 0 && j < len(d.clients) {
				a.ClientID = d.clients[j]
			}
			if _, err := past.Validate(ctx, k.TenantID, token, a); sessions.ErrorCode(err) == sessions.ENOTFOUND {
				break // lifetimes shorter than the demo's history: it expired
			} else if err != nil {
				return "", err
			}
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

Or open the console at %s/console/ and paste the key.

`, key, key, base, demoUser, base)
}
