package bench

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/internal/sessions"
)

// heavyUser is the user with Config.Heavy sessions, whose deep pages the
// list_deep scenario reads.
const heavyUser = "heavy-user"

// userID names the seeded user n.
func userID(n int) string { return "user-" + strconv.Itoa(n) }

// Sample sizes: the sessions whose tokens the load phase keeps (tokens are
// stored only hashed), for get and validate; and a disjoint set for
// revoke, which uses each once.
const (
	maxSample       = 10_000
	maxRevokeSample = 50_000
)

// sampled is a seeded session the load phase can address.
type sampled struct {
	user, id, token string
}

// clientIDs are the applications sessions are seeded with.
var clientIDs = []string{"web", "ios", "android", "admin", "partner"}

var userAgents = []string{
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
	"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
	"MyApp/4.2.1 (iOS 17.5; iPhone15,2)",
}

type place struct{ country, city, region, lat, lon string }

var places = []place{
	{"United States of America", "Los Angeles", "North America", "34.043238", "-118.250918"},
	{"United Kingdom of Great Britain and Northern Ireland", "London", "Europe", "51.507351", "-0.127758"},
	{"Germany", "Berlin", "Europe", "52.520008", "13.404954"},
	{"Japan", "Tokyo", "Asia", "35.689487", "139.691711"},
	{"Brazil", "São Paulo", "South America", "-23.555771", "-46.639557"},
	{"Australia", "Sydney", "Oceania", "-33.868820", "151.209290"},
	{"India", "Mumbai", "Asia", "19.075984", "72.877656"},
	{"Canada", "Toronto", "North America", "43.653226", "-79.383184"},
}

// seedBatch bounds how many sessions are handed to the store at a time.
// A store loads an empty table its fastest way in one call (SQLite builds
// its indexes after the rows, PostgreSQL analyzes once), so the benchmark
// hands over up to five million sessions at once, about 2 GiB of memory
// during seeding (reported apart from the serving phase's).
const seedBatch = 5_000_000

// seeded is what seeding leaves for the load phase.
type seeded struct {
	users  int // users user-0 .. user-(users-1) exist
	sample []sampled
	revoke []sampled
}

// generator makes realistic sessions: tokens are made here (not by
// sessions.NewToken) so that the load phase can keep some of them, from
// a fast seeded source, since nothing about a benchmark's tokens is
// secret.
type generator struct {
	cfg                                     sessions.Config
	rng                                     *rand.Rand
	now                                     int64
	n                                       int // sessions to make, the heavy user's included
	users                                   int
	heavy                                   int
	strideHeavy, strideSample, strideRevoke int
	// heavyMade and usersMade count the heavy user's sessions and the
	// users given their first session so far.
	heavyMade, usersMade int
}

// newGenerator returns a generator of n sessions of up to users users, and
// heavy more of the heavy user.
func newGenerator(cfg sessions.Config, now int64, users, n, heavy int) *generator {
	n += heavy
	g := &generator{cfg: cfg, rng: rand.New(rand.NewPCG(uint64(now), 42)), now: now, n: n, heavy: heavy}
	g.users = max(1, min(users, n-heavy))
	g.strideHeavy = n + 1
	if heavy > 0 {
		g.strideHeavy = max(1, n/heavy)
	}
	g.strideSample = max(2, (n-heavy)/maxSample)
	g.strideRevoke = max(4, (n-heavy)/maxRevokeSample)
	return g
}

// owner returns the user of session i: the heavy user's sessions are
// spread through the load (as they would be in time), the first sessions
// give every user one, the rest go to random users.
func (g *generator) owner(i int) string {
	if g.heavyMade < g.heavy && (i%g.strideHeavy == 0 || g.n-i <= g.heavy-g.heavyMade) {
		g.heavyMade++
		return heavyUser
	}
	if g.usersMade < g.users {
		g.usersMade++
		return userID(g.usersMade - 1)
	}
	return userID(g.rng.IntN(g.users))
}

func (g *generator) token() string {
	var b [32]byte
	for i := 0; i < 32; i += 8 {
		v := g.rng.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return "sdt_" + base64.RawURLEncoding.EncodeToString(b[:])
}

func (g *generator) sessionID() string {
	var b [16]byte
	v1, v2 := g.rng.Uint64(), g.rng.Uint64()
	for j := range 8 {
		b[j], b[8+j] = byte(v1>>(8*j)), byte(v2>>(8*j))
	}
	return strings.ToUpper(hex.EncodeToString(b[:]))
}

// session makes session i of user with token token: one to three
// clients, an address, a user agent and a place, last active within the
// sliding lifetime and started up to three weeks before that, so that it
// is active now.
func (g *generator) session(user, token string) *sessions.Session {
	r := g.rng
	nc := 1 + r.IntN(3)
	clients := make([]string, 0, nc)
	for len(clients) < nc {
		c := clientIDs[r.IntN(len(clientIDs))]
		if !contains(clients, c) {
			clients = append(clients, c)
		}
	}
	sum := sha256.Sum256([]byte(token))
	ip := fmt.Sprintf("%d.%d.%d.%d", 1+r.IntN(223), r.IntN(256), r.IntN(256), 1+r.IntN(254))
	ua := userAgents[r.IntN(len(userAgents))]
	p := places[r.IntN(len(places))]
	sliding := int64(g.cfg.SlidingLifetime / time.Second)
	last := g.now - r.Int64N(max(1, sliding*6/7))
	initiated := last - r.Int64N(21*86400)
	s := &sessions.Session{
		UserID:      user,
		ID:          g.sessionID(),
		Key:         strings.ToUpper(hex.EncodeToString(sum[:])),
		ClientIDs:   clients,
		InitiatedAt: initiated,
		LastUpdated: last,
		LastMetadata: sessions.Metadata{
			IPAddress: &ip, UserAgent: &ua,
			Location: sessions.Location{Country: &p.country, City: &p.city, Region: &p.region, Latitude: &p.lat, Longitude: &p.lon},
		},
	}
	s.ExpiresAt = g.cfg.ExpiresAt(s.InitiatedAt, s.LastUpdated)
	sessions.FirstEntry(s) // the session's past: its country and fix
	return s
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// seed stores g.n sessions in the tenant through load, batch by batch, and
// returns what the load phase needs. progress, if not nil, is called after
// each batch with the number stored so far.
func (g *generator) seed(ctx context.Context, tenantID int64, load func(context.Context, []*sessions.Session) error, progress func(done int)) (*seeded, error) {
	out := &seeded{users: g.users}
	batch := make([]*sessions.Session, 0, min(g.n, seedBatch))
	for i := range g.n {
		user := g.owner(i)
		token := g.token()
		s := g.session(user, token)
		s.TenantID = tenantID
		// Samples are taken among the other users' sessions, counted by
		// j, so that the heavy user's spacing cannot hide them.
		if user != heavyUser {
			switch j := i - g.heavyMade; {
			case j%g.strideSample == 0 && len(out.sample) < maxSample:
				out.sample = append(out.sample, sampled{user: user, id: s.ID, token: token})
			case j%g.strideRevoke == g.strideRevoke-1 && len(out.revoke) < maxRevokeSample:
				out.revoke = append(out.revoke, sampled{user: user, id: s.ID, token: token})
			}
		}
		batch = append(batch, s)
		if len(batch) == cap(batch) || i == g.n-1 {
			if err := load(ctx, batch); err != nil {
				return nil, err
			}
			if progress != nil {
				progress(i + 1)
			}
			clear(batch)
			batch = batch[:0]
		}
	}
	// The samples were made among all the sessions and hold spans of their
	// memory: copies let the collector give those back, so that the
	// serving phase's memory is its own.
	for _, ss := range [][]sampled{out.sample, out.revoke} {
		for i := range ss {
			ss[i] = sampled{user: strings.Clone(ss[i].user), id: strings.Clone(ss[i].id), token: strings.Clone(ss[i].token)}
		}
	}
	return out, nil
}
