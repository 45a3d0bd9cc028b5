// Package geoip locates IP addresses with a MaxMind DB (.mmdb) file, so
// that sessiond can record where each session activity came from.
//
// Two free city databases are understood, told apart record by record so
// that no configuration names the schema:
//
//   - MaxMind GeoLite2/GeoIP2 City (and DB-IP's own MaxMind-compatible
//     files): nested records with country.iso_code, city.names.en,
//     continent.code and location.latitude/longitude; registered_country
//     stands in when country is missing.
//   - DB-IP City Lite as the ip-location-db project publishes it: flat
//     records with country_code, city, latitude and longitude, the
//     coordinates as numbers or strings.
//
// Country names and regions come from one ISO 3166-1 table in this package
// whichever schema is loaded, so the same country always reads the same.
// Coordinates are decimal strings with as many digits as the database holds
// and no more (strconv.FormatFloat with precision -1): a database that
// stores 34.0544 gives "34.0544", not "34.054400".
//
// A database is read into memory rather than memory-mapped. That costs the
// file's size in heap, but an operator who copies a new file over the old
// one in place cannot crash the server with SIGBUS, and a database replaced
// by Reloader is freed by the garbage collector once the last lookup that
// holds it returns, with no reference counting on the lookup path.
package geoip

import (
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"
	"github.com/oschwald/maxminddb-golang/v2/mmdbdata"

	"github.com/sessiond/sessiond/internal/sessions"
)

// DB is one opened database. It is safe for concurrent lookups.
type DB struct {
	reader   *maxminddb.Reader
	ipv4Only bool
}

var _ sessions.Locator = (*DB)(nil)

// Open reads the database at path into memory. It fails if the file is not
// a MaxMind DB.
func Open(path string) (*DB, error) {
	db, _, err := open(path)
	return db, err
}

// open is Open that also returns what the file was when it was read, even
// when it is not a valid database, so that Reloader tries a broken file
// once and then waits for it to change.
func open(path string) (*DB, os.FileInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("geoip: %w", err)
	}
	defer f.Close()
	// Stat the open file, not the path, so that info describes the very
	// bytes read even if the path is replaced meanwhile.
	info, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("geoip: %w", err)
	}
	// One allocation of the file's size: ReadAll would grow its buffer
	// through copies of a file that may be a hundred megabytes.
	data := make([]byte, info.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return nil, info, fmt.Errorf("geoip: read %s: %w", path, err)
	}
	reader, err := maxminddb.OpenBytes(data)
	if err != nil {
		return nil, info, fmt.Errorf("geoip: %s: %w", path, err)
	}
	if reader.Metadata.NodeCount == 0 {
		return nil, info, fmt.Errorf("geoip: %s: database has no networks", path)
	}
	return &DB{reader: reader, ipv4Only: reader.Metadata.IPVersion == 4}, info, nil
}

// Type is the database type from the file's metadata, e.g.
// "GeoLite2-City", for logs.
func (db *DB) Type() string { return db.reader.Metadata.DatabaseType }

// BuildTime is when the database was built, from its metadata, for logs:
// it tells an operator whether an update was picked up.
func (db *DB) BuildTime() time.Time { return db.reader.Metadata.BuildTime().UTC() }

// Close releases the database. Locate must not be called during or after
// Close; Reloader never closes a database it has swapped out, and leaves it
// to the garbage collector for that reason.
func (db *DB) Close() error { return db.reader.Close() }

// Locate returns where ip is. Addresses that are not publicly routable,
// addresses the database does not know, and database errors all give the
// zero Location: a failed lookup must never fail a session.
func (db *DB) Locate(ip netip.Addr) sessions.Location {
	ip = ip.Unmap().WithZone("")
	if !Public(ip) || (db.ipv4Only && ip.Is6()) {
		return sessions.Location{}
	}
	res := db.reader.Lookup(ip)
	var rec record
	if !res.Found() || res.Decode(&rec) != nil {
		return sessions.Location{}
	}
	return rec.location()
}

// record is the part of a database record that sessiond uses, in either
// schema. Empty strings are unknown.
type record struct {
	country           string // ISO code: country.iso_code or country_code
	registeredCountry string // ISO code: registered_country.iso_code
	continent         string // continent.code
	city              string // city.names.en or city
	latitude          string // formatted
	longitude         string
}

// location turns the record into what sessiond records.
func (r *record) location() sessions.Location {
	code := r.country
	if code == "" {
		code = r.registeredCountry
	}
	c, known := countries[strings.ToUpper(code)]
	// One allocation holds every string, and the Location points into it:
	// callers get their own copies, never pointers into shared tables.
	v := &struct{ country, city, region, lat, lon string }{
		city: strings.TrimSpace(r.city),
		lat:  r.latitude,
		lon:  r.longitude,
	}
	if known {
		v.country = c.name
	}
	if v.region = regions[strings.ToUpper(r.continent)]; v.region == "" && known {
		v.region = regions[c.continent]
	}
	var loc sessions.Location
	if v.country != "" {
		loc.Country = &v.country
	}
	if v.city != "" {
		loc.City = &v.city
	}
	if v.region != "" {
		loc.Region = &v.region
	}
	// A lone coordinate places nothing: give both or neither.
	if v.lat != "" && v.lon != "" {
		loc.Latitude, loc.Longitude = &v.lat, &v.lon
	}
	return loc
}

// UnmarshalMaxMindDBCursor decodes a record of either schema in one pass
// over the map, skipping everything sessiond does not use. Values of an
// unexpected type are skipped rather than failing the lookup, so that a
// database with a slightly different schema still yields what it can.
func (r *record) UnmarshalMaxMindDBCursor(c mmdbdata.Cursor) (mmdbdata.Cursor, error) {
	return eachField(c, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
		switch string(key) {
		case "country":
			return field(v, "iso_code", &r.country)
		case "registered_country":
			return field(v, "iso_code", &r.registeredCountry)
		case "continent":
			return field(v, "code", &r.continent)
		case "country_code":
			return readString(v, &r.country)
		case "city":
			if k, err := v.Kind(); err == nil && k == mmdbdata.KindMap {
				return eachField(v, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
					if string(key) == "names" {
						return field(v, "en", &r.city)
					}
					return v.Skip()
				})
			}
			return readString(v, &r.city)
		case "location":
			return eachField(v, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
				switch string(key) {
				case "latitude":
					return readCoord(v, 90, &r.latitude)
				case "longitude":
					return readCoord(v, 180, &r.longitude)
				}
				return v.Skip()
			})
		case "latitude":
			return readCoord(v, 90, &r.latitude)
		case "longitude":
			return readCoord(v, 180, &r.longitude)
		}
		return v.Skip()
	})
}

// eachField calls fn for every key of the map at c, which must return the
// cursor after the value it was given. A value that is not a map is
// skipped.
func eachField(c mmdbdata.Cursor, fn func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error)) (mmdbdata.Cursor, error) {
	if k, err := c.Kind(); err != nil {
		return mmdbdata.Cursor{}, err
	} else if k != mmdbdata.KindMap {
		return c.Skip()
	}
	m, err := c.Map()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	var next mmdbdata.Cursor
	for {
		key, v, ok := m.Next(next)
		if !ok {
			break
		}
		if next, err = fn(key, v); err != nil {
			return mmdbdata.Cursor{}, err
		}
	}
	return m.End()
}

// field reads the string under name in the map at c into dst.
func field(c mmdbdata.Cursor, name string, dst *string) (mmdbdata.Cursor, error) {
	return eachField(c, func(key []byte, v mmdbdata.Cursor) (mmdbdata.Cursor, error) {
		if string(key) == name {
			return readString(v, dst)
		}
		return v.Skip()
	})
}

// readString reads the string at c into dst; other types are skipped.
func readString(c mmdbdata.Cursor, dst *string) (mmdbdata.Cursor, error) {
	if k, err := c.Kind(); err != nil {
		return mmdbdata.Cursor{}, err
	} else if k != mmdbdata.KindString {
		return c.Skip()
	}
	s, next, err := c.ReadString()
	if err == nil {
		*dst = s
	}
	return next, err
}

// readCoord reads a coordinate stored as a float, an integer or a decimal
// string, and formats it into dst if it is a finite number within ±limit.
func readCoord(c mmdbdata.Cursor, limit float64, dst *string) (mmdbdata.Cursor, error) {
	k, err := c.Kind()
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	var (
		x    float64
		bits = 64
		next mmdbdata.Cursor
	)
	switch k {
	case mmdbdata.KindFloat64, mmdbdata.KindFloat32:
		if x, next, err = c.ReadFloat(); k == mmdbdata.KindFloat32 {
			bits = 32 // format 34.05 as "34.05", not "34.04999923706055"
		}
	case mmdbdata.KindInt32, mmdbdata.KindUint16, mmdbdata.KindUint32, mmdbdata.KindUint64:
		var u uint64
		var signed bool
		u, signed, next, err = c.ReadInteger()
		if x = float64(u); signed {
			x = float64(int64(u))
		}
	case mmdbdata.KindString:
		var s string
		if s, next, err = c.ReadString(); err == nil {
			if x, err = strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil {
				return next, nil // not a number: unknown, not a failed lookup
			}
		}
	default:
		return c.Skip()
	}
	if err != nil {
		return mmdbdata.Cursor{}, err
	}
	if !math.IsNaN(x) && math.Abs(x) <= limit {
		*dst = strconv.FormatFloat(x, 'f', -1, bits)
	}
	return next, nil
}

// nonPublic lists the special-purpose ranges whose addresses say nothing
// about where a user is, beyond those netip.Addr methods already tell:
// shared NAT space, documentation and benchmarking ranges, and other
// IANA special-purpose blocks that are not globally reachable.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT (RFC 6598)
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // TEST-NET-1
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // TEST-NET-2
	netip.MustParsePrefix("203.0.113.0/24"),  // TEST-NET-3
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, and broadcast
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("3fff::/20"),       // documentation (RFC 9637)
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
}

// Public reports whether ip is a globally routable unicast address, the
// only kind a GeoIP database can place. Private, loopback, link-local,
// multicast, unspecified, shared (CGNAT), documentation and other
// special-purpose addresses are not. IPv4-mapped IPv6 addresses are judged
// as the IPv4 address they carry.
func Public(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() || !ip.IsGlobalUnicast() || ip.IsPrivate() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}
