package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// writeGeoIPDB writes a one-network GeoLite2-City-style database placing
// 1.1.1.0/24 in Los Angeles, and returns its path.
func writeGeoIPDB(t *testing.T) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-City", RecordSize: 28})
	if err != nil {
		t.Fatal(err)
	}
	_, network, _ := net.ParseCIDR("1.1.1.0/24")
	err = tree.Insert(network, mmdbtype.Map{
		"country":   mmdbtype.Map{"iso_code": mmdbtype.String("US")},
		"continent": mmdbtype.Map{"code": mmdbtype.String("NA")},
		"city":      mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("Los Angeles")}},
		"location":  mmdbtype.Map{"latitude": mmdbtype.Float64(34.043238), "longitude": mmdbtype.Float64(-118.250918)},
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "city.mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestGeoIPLookup(t *testing.T) {
	db := writeGeoIPDB(t)
	type result struct {
		IPAddress string  `json:"ip_address"`
		Country   *string `json:"country"`
		City      *string `json:"city"`
		Region    *string `json:"region"`
		Latitude  *string `json:"latitude"`
		Longitude *string `json:"longitude"`
	}
	str := func(s string) *string { return &s }
	la := result{"1.1.1.1", str("United States of America"), str("Los Angeles"), str("North America"), str("34.043238"), str("-118.250918")}
	for _, tc := range []struct {
		name string
		env  map[string]string
		args []string
		want result
	}{
		{"flag before address", nil, []string{"geoip", "lookup", "--geoip-db", db, "1.1.1.1"}, la},
		{"address before flag", nil, []string{"geoip", "lookup", "1.1.1.1", "--geoip-db", db}, la},
		{"database from environment", map[string]string{"SESSIOND_GEOIP_DB": db}, []string{"geoip", "lookup", "1.1.1.1"}, la},
		{"mapped address is unmapped", nil, []string{"geoip", "lookup", "--geoip-db", db, "::ffff:1.1.1.1"}, la},
		{"unknown address", nil, []string{"geoip", "lookup", "--geoip-db", db, "9.9.9.9"}, result{IPAddress: "9.9.9.9"}},
		{"private address", nil, []string{"geoip", "lookup", "--geoip-db", db, "192.168.1.1"}, result{IPAddress: "192.168.1.1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, err := runCmd(t, tc.env, tc.args...)
			if err != nil {
				t.Fatalf("run: %v\nstderr: %s", err, stderr)
			}
			var raw map[string]any
			if err := json.Unmarshal([]byte(stdout), &raw); err != nil {
				t.Fatalf("stdout is not JSON: %v\n%s", err, stdout)
			}
			for _, k := range []string{"ip_address", "country", "city", "region", "latitude", "longitude"} {
				if _, ok := raw[k]; !ok {
					t.Errorf("output has no %q member (unknown must be null, not absent): %s", k, stdout)
				}
			}
			var got result
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatal(err)
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tc.want)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("got %s, want %s", gotJSON, wantJSON)
			}
		})
	}
}

func TestGeoIPLookupErrors(t *testing.T) {
	db := writeGeoIPDB(t)
	bad := filepath.Join(t.TempDir(), "bad.mmdb")
	if err := os.WriteFile(bad, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string][]string{
		"no subcommand":      {"geoip"},
		"unknown subcommand": {"geoip", "find"},
		"no database":        {"geoip", "lookup", "1.1.1.1"},
		"no address":         {"geoip", "lookup", "--geoip-db", db},
		"two addresses":      {"geoip", "lookup", "--geoip-db", db, "1.1.1.1", "8.8.8.8"},
		"not an address":     {"geoip", "lookup", "--geoip-db", db, "example.com"},
		"address with zone":  {"geoip", "lookup", "--geoip-db", db, "fe80::1%eth0"},
		"missing database":   {"geoip", "lookup", "--geoip-db", filepath.Join(t.TempDir(), "missing.mmdb"), "1.1.1.1"},
		"broken database":    {"geoip", "lookup", "--geoip-db", bad, "1.1.1.1"},
	} {
		if stdout, _, err := runCmd(t, nil, args...); err == nil {
			t.Errorf("%s: got no error, want one (stdout %q)", name, stdout)
		} else if stdout != "" {
			t.Errorf("%s: stdout = %q, want nothing", name, stdout)
		}
	}
}

// TestServeGeoIP locates the IP address of a started session through the
// database given to serve.
func TestServeGeoIP(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "geo.db")
	key := apiKey(t, db)
	base, _, stop := startServe(t, map[string]string{"SESSIOND_DB": db, "SESSIOND_GEOIP_DB": writeGeoIPDB(t)})
	defer stop()
	var s struct {
		Meta map[string]*string `json:"last_metadata"`
	}
	for ip, want := range map[string]string{"1.1.1.1": "Los Angeles", "10.0.0.1": "", "2001:db8::1": ""} {
		if code := call(t, "POST", base+"/api/users/geo/sessions", key, map[string]string{"client_id": "web", "ip_address": ip}, &s); code != 201 {
			t.Fatalf("start from %s = %d", ip, code)
		}
		got := ""
		if c := s.Meta["city"]; c != nil {
			got = *c
		}
		if got != want {
			t.Errorf("city of %s = %q, want %q", ip, got, want)
		}
		if want != "" && (s.Meta["country"] == nil || *s.Meta["country"] != "United States of America" || *s.Meta["region"] != "North America" || *s.Meta["latitude"] != "34.043238") {
			t.Errorf("location of %s = %v", ip, s.Meta)
		}
	}
}
