package geoip

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/sessiond/sessiond/internal/sessions"
)

// network is one network of a test database and its record.
type network struct {
	cidr   string
	record mmdbtype.Map
}

// buildDB returns an .mmdb file holding networks. ipVersion is 4 or 6.
// Reserved networks are allowed in, so that tests can show that Locate
// refuses private addresses even when a database has data for them.
func buildDB(t testing.TB, dbType string, ipVersion int, networks []network) []byte {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            dbType,
		IPVersion:               ipVersion,
		RecordSize:              28,
		IncludeReservedNetworks: true,
		Languages:               []string{"en", "de"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range networks {
		_, ipnet, err := net.ParseCIDR(n.cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(ipnet, n.record); err != nil {
			t.Fatalf("insert %s: %v", n.cidr, err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// replaceFile writes data to path the way database updates are installed:
// into a temporary file in the same directory, renamed over path.
func replaceFile(t testing.TB, path string, data []byte) {
	t.Helper()
	tmp, err := os.CreateTemp(filepath.Dir(path), ".update-*")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmp.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := tmp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		t.Fatal(err)
	}
}

// writeDB builds a database and installs it at path.
func writeDB(t testing.TB, path, dbType string, ipVersion int, networks []network) {
	t.Helper()
	replaceFile(t, path, buildDB(t, dbType, ipVersion, networks))
}

// names is a localized names map as MaxMind records carry it.
func names(en, de string) mmdbtype.Map {
	return mmdbtype.Map{"en": mmdbtype.String(en), "de": mmdbtype.String(de)}
}

// maxmindRecord is a GeoIP2/GeoLite2 City record. Empty strings and NaN
// coordinates leave the part out. Fields sessiond does not use are there
// too, so that decoding is shown to skip them.
func maxmindRecord(iso, continent, city string, lat, lon float64) mmdbtype.Map {
	rec := mmdbtype.Map{
		"subdivisions": mmdbtype.Slice{mmdbtype.Map{
			"iso_code": mmdbtype.String("XX"), "geoname_id": mmdbtype.Uint32(1), "names": names("Somewhere", "Irgendwo"),
		}},
		"postal":              mmdbtype.Map{"code": mmdbtype.String("00000")},
		"traits":              mmdbtype.Map{"is_anycast": mmdbtype.Bool(false)},
		"represented_country": mmdbtype.Map{"type": mmdbtype.String("military")},
	}
	if iso != "" {
		rec["country"] = mmdbtype.Map{
			"iso_code": mmdbtype.String(iso), "geoname_id": mmdbtype.Uint32(6252001),
			"is_in_european_union": mmdbtype.Bool(false), "names": names("Name "+iso, "Name "+iso+" de"),
		}
	}
	if continent != "" {
		rec["continent"] = mmdbtype.Map{"code": mmdbtype.String(continent), "names": names("x", "y")}
	}
	if city != "" {
		rec["city"] = mmdbtype.Map{"geoname_id": mmdbtype.Uint32(5368361), "names": names(city, city+" (de)")}
	}
	if lat == lat && lon == lon { // not NaN
		rec["location"] = mmdbtype.Map{
			"accuracy_radius": mmdbtype.Uint16(20), "latitude": mmdbtype.Float64(lat),
			"longitude": mmdbtype.Float64(lon), "time_zone": mmdbtype.String("UTC"), "metro_code": mmdbtype.Uint16(803),
		}
	}
	return rec
}

// dbipRecord is a DB-IP City Lite record as ip-location-db writes it; the
// coordinates are whatever mmdbtype the test gives (nil leaves them out).
func dbipRecord(code, state, city string, lat, lon mmdbtype.DataType) mmdbtype.Map {
	rec := mmdbtype.Map{
		"country_code": mmdbtype.String(code),
		"state1":       mmdbtype.String(state),
		"state2":       mmdbtype.String(""),
		"city":         mmdbtype.String(city),
		"postcode":     mmdbtype.String(""),
		"timezone":     mmdbtype.String("UTC"),
	}
	if lat != nil {
		rec["latitude"] = lat
	}
	if lon != nil {
		rec["longitude"] = lon
	}
	return rec
}

// fields shows a Location as five strings, "<nil>" for an unknown field,
// so that a failure prints what it got.
func fields(loc sessions.Location) [5]string {
	var out [5]string
	for i, p := range []*string{loc.Country, loc.City, loc.Region, loc.Latitude, loc.Longitude} {
		out[i] = "<nil>"
		if p != nil {
			out[i] = *p
		}
	}
	return out
}

// none is fields of the zero Location.
var none = [5]string{"<nil>", "<nil>", "<nil>", "<nil>", "<nil>"}

// syncBuffer collects log output from Watch's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
