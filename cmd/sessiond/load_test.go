package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/postgres/pgtest"
)

var loadFor = flag.Duration("load", 3*time.Second, "how long TestLoadInvariants drives load per store")

// TestLoadInvariants drives concurrent starts, validations, lists and
// revocations on overlapping users against the real binary, then checks
// that the counts match, no revoked session validates, no client ID was
// lost or duplicated, and memory stayed bounded.
func TestLoadInvariants(t *testing.T) {
	if testing.Short() {
		t.Skip("load test is not short")
	}
	stores := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "load.db") },
		"postgres": func(t *testing.T) string { return pgtest.URL(t) },
	}
	for name, dbFor := range stores {
		t.Run(name, func(t *testing.T) {
			db := dbFor(t)
			key := apiKey(t, db)
			p := startProc(t, db, "--touch-interval", "0s")
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
			a := &api{base: p.base, key: key, client: client}

			type sess struct {
				started
				user      string
				joined    map[string]bool // clients whose validation answered 200
				tried     map[string]bool // clients ever sent
				revoked   bool            // a revocation answered 204
				revocable bool
			}
			var (
				mu       sync.Mutex
				all      []*sess
				requests int
				bad      []string
			)
			users := make([]string, 20)
			for i := range users {
				users[i] = fmt.Sprintf("load-%d", i)
			}
			clients := []string{"web", "ios", "android", "admin", "cli"}
			rssStart := 0
			ctx, cancel := context.WithTimeout(context.Background(), *loadFor)
			defer cancel()
			var wg sync.WaitGroup
			for w := range 16 {
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(uint64(w), 7))
					for ctx.Err() == nil {
						op := rng.IntN(10)
						mu.Lock()
						var target *sess
						if len(all) > 0 {
							target = all[rng.IntN(len(all))]
						}
						mu.Unlock()
						var code int
						var err error
						switch {
						case op < 3 || target == nil:
							s := &sess{user: users[rng.IntN(len(users))], joined: map[string]bool{}, tried: map[string]bool{}}
							c := clients[rng.IntN(len(clients))]
							code, err = a.do("POST", "/api/users/"+s.user+"/sessions", map[string]string{"client_id": c}, &s.started)
							if err == nil && code == 201 {
								s.joined[c], s.tried[c] = true, true
								mu.Lock()
								all = append(all, s)
								mu.Unlock()
							}
						case op < 7:
							c := clients[rng.IntN(len(clients))]
							mu.Lock()
							target.tried[c] = true
							mu.Unlock()
							code, err = a.do("POST", "/api/sessions/validate", map[string]string{"session_token": target.Token, "client_id": c}, nil)
							if err == nil && code == 200 {
								mu.Lock()
								target.joined[c] = true
								mu.Unlock()
							} else if err == nil && code == 404 {
								code = 200 // revoked meanwhile: allowed
							}
						case op < 9:
							code, err = a.do("GET", fmt.Sprintf("/api/users/%s/sessions?size=5&sort=last_updated:-1", users[rng.IntN(len(users))]), nil, nil)
							if code == 404 {
								code = 200 // no session yet
							}
						default:
							code, err = a.do("DELETE", "/api/users/"+target.user+"/sessions/"+target.SessionID, nil, nil)
							if err == nil && code == 204 {
								mu.Lock()
								target.revoked = true
								mu.Unlock()
							} else if code == 404 {
								code = 204 // revoked by another worker first
							}
						}
						mu.Lock()
						requests++
						if err != nil || code >= 300 {
							bad = append(bad, fmt.Sprintf("op %d: %d %v", op, code, err))
						}
						if requests == 500 {
							rssStart = p.rssKB(t)
						}
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			rssEnd := p.rssKB(t)
			if len(bad) > 0 {
				t.Fatalf("%d of %d requests failed, e.g. %v", len(bad), requests, bad[:min(5, len(bad))])
			}

			// Counts match: each user's total is its starts minus its revocations.
			want := map[string]int{}
			for _, s := range all {
				if !s.revoked {
					want[s.user]++
				}
			}
			for _, u := range users {
				total, code, err := a.total("/api/users/" + u + "/sessions?size=1")
				if err != nil || !(code == 200 || code == 404 && want[u] == 0) || total != want[u] {
					t.Errorf("user %s: list %d, total_count %d, %v; want total %d", u, code, total, err, want[u])
				}
			}
			for _, s := range all {
				if s.revoked {
					if code, _ := a.do("POST", "/api/sessions/validate", map[string]string{"session_token": s.Token}, nil); code != 404 {
						t.Errorf("revoked session %s validates: %d", s.SessionID, code)
					}
					continue
				}
				var got started
				if code, err := a.do("GET", "/api/users/"+s.user+"/sessions/"+s.SessionID, nil, &got); err != nil || code != 200 {
					t.Errorf("live session %s: %d %v", s.SessionID, code, err)
					continue
				}
				seen := map[string]bool{}
				for _, c := range got.ClientIDs {
					if seen[c] {
						t.Errorf("session %s: client %s twice in %v", s.SessionID, c, got.ClientIDs)
					}
					seen[c] = true
					if !s.tried[c] {
						t.Errorf("session %s: client %s was never sent", s.SessionID, c)
					}
				}
				for c := range s.joined {
					if !slices.Contains(got.ClientIDs, c) {
						t.Errorf("session %s: acknowledged client %s lost from %v", s.SessionID, c, got.ClientIDs)
					}
				}
			}
			if rssEnd > 150*1024 {
				t.Errorf("RSS after load %d kB, want under 150 MB", rssEnd)
			}
			t.Logf("%s: %d requests in %v (%.0f/s) by 16 workers, %d sessions; RSS %d kB after warm-up, %d kB at the end",
				name, requests, *loadFor, float64(requests)/loadFor.Seconds(), len(all), rssStart, rssEnd)
		})
	}
}

// total answers a list request's status and X-Pagination total_count.
func (a *api) total(path string) (total, code int, err error) {
	req, _ := http.NewRequest("GET", a.base+path, nil)
	req.Header.Set("X-API-KEY", a.key)
	resp, err := a.client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return 0, resp.StatusCode, nil
	}
	var pg struct {
		Total int `json:"total_count"`
	}
	err = json.Unmarshal([]byte(resp.Header.Get("X-Pagination")), &pg)
	return pg.Total, resp.StatusCode, err
}
