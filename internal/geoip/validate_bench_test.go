package geoip

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/sessiond/sessiond/internal/sessions"
	"github.com/sessiond/sessiond/internal/sqlite"
)

// BenchmarkValidate measures what GeoIP adds to a validation: each
// iteration validates a session from a new IP address, so the service
// locates it and writes (the worst case: a throttled validation from a
// known address locates nothing). Compare the two sub-benchmarks.
func BenchmarkValidate(b *testing.B) {
	path, v4, _ := benchDB(b)
	geo, err := NewReloader(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer geo.Close()
	for _, bc := range []struct {
		name    string
		locator sessions.Locator
	}{{"without GeoIP", nil}, {"with GeoIP", geo}} {
		b.Run(bc.name, func(b *testing.B) {
			ctx := context.Background()
			store, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "v.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			cfg := sessions.DefaultConfig()
			cfg.TouchInterval = 0
			svc := sessions.NewService(store, cfg, nil, bc.locator)
			k, _, err := svc.CreateAPIKey(ctx, "default", "bench", sessions.Scopes)
			if err != nil {
				b.Fatal(err)
			}
			_, token, err := svc.Start(ctx, k.TenantID, "bench", sessions.Activity{ClientID: "app", IPAddress: v4[0].String()})
			if err != nil {
				b.Fatal(err)
			}
			ips := make([]string, len(v4))
			for i, ip := range v4 {
				ips[i] = ip.String()
			}
			if bc.locator != nil && bc.locator.Locate(netip.MustParseAddr(ips[1])).City == nil {
				b.Fatal("benchmark address not located")
			}
			b.ReportAllocs()
			i := 1
			for b.Loop() {
				if _, err := svc.Validate(ctx, k.TenantID, token, sessions.Activity{IPAddress: ips[i%len(ips)]}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
