package sessions

import (
	"math"
	"slices"
	"strconv"
)

// ActivityEntry is one entry of a session's activity trail: an activity
// (the start, or a validation) that changed the session's clients, IP
// address or user agent. It records what that activity carried, so a
// field the activity left out is nil here even though the session keeps
// its last known value: the trail says what was seen when, never more.
type ActivityEntry struct {
	// At is when the activity was recorded, in Unix seconds.
	At int64
	// ClientID is the application that reported the activity; "" when a
	// validation named none.
	ClientID string
	// IPAddress and UserAgent are what the activity reported, nil if
	// nothing.
	IPAddress, UserAgent *string
	// Location is where IPAddress was located when the activity was
	// recorded; kept with the entry, because a later GeoIP database may
	// place the address elsewhere.
	Location
	// NewCountry is true when this is the first time the session is seen
	// in Location's country.
	NewCountry bool
	// ImpossibleTravel is true when getting here from the session's
	// previous located entry would have taken a speed above the
	// configured MaxTravelSpeed (see Config).
	ImpossibleTravel bool
}

// Fix is a point where a session was seen at a time: the coordinates of
// a located trail entry.
type Fix struct {
	At                  int64 // Unix seconds
	Latitude, Longitude float64
}

// MaxTrailLimit caps Config.TrailLimit: each validation that appends an
// entry trims the trail, and purging or erasing a session deletes it all,
// so a trail's length is a cost paid by the hot path and the janitor.
const MaxTrailLimit = 10_000

// earthRadiusKm is the mean radius of the Earth, for the haversine.
const earthRadiusKm = 6371.0

// minTravelKm is the distance below which travel is never impossible.
// GeoIP places an address within an accuracy radius that is typically
// tens of kilometres up to about 100 km (often only the city or region,
// and mobile networks route through far-off gateways), so two fixes of
// one place can be that far apart. Without this floor a user whose IP
// changes between two nearby cities within a minute would be flagged.
const minTravelKm = 100.0

// distanceKm returns the great-circle distance between two fixes, by the
// haversine formula on a spherical Earth.
func distanceKm(a, b Fix) float64 {
	rad := func(deg float64) float64 { return deg * math.Pi / 180 }
	dLat := rad(b.Latitude - a.Latitude)
	dLon := rad(b.Longitude - a.Longitude)
	h := math.Sin(dLat/2)*math.Sin(dLat/2) +
		math.Cos(rad(a.Latitude))*math.Cos(rad(b.Latitude))*math.Sin(dLon/2)*math.Sin(dLon/2)
	return 2 * earthRadiusKm * math.Asin(math.Sqrt(min(1, h)))
}

// impossibleTravel reports whether going from prev to next is faster than
// maxSpeed km/h and farther than minTravelKm. The elapsed time counts as
// at least one second, so that two fixes in the same second (or out of
// order, between nodes whose clocks differ) are judged, not divided by
// zero.
func impossibleTravel(prev, next Fix, maxSpeed float64) bool {
	d := distanceKm(prev, next)
	if d <= minTravelKm {
		return false
	}
	hours := float64(max(next.At-prev.At, 1)) / 3600
	return d/hours > maxSpeed
}

// fixOf returns the coordinates of loc at time at, and whether it has
// usable ones: both decimal strings present, parsable and in range.
func fixOf(loc Location, at int64) (Fix, bool) {
	if loc.Latitude == nil || loc.Longitude == nil {
		return Fix{}, false
	}
	lat, err1 := strconv.ParseFloat(*loc.Latitude, 64)
	lon, err2 := strconv.ParseFloat(*loc.Longitude, 64)
	if err1 != nil || err2 != nil || !(lat >= -90 && lat <= 90) || !(lon >= -180 && lon <= 180) {
		return Fix{}, false
	}
	return Fix{At: at, Latitude: lat, Longitude: lon}, true
}

// judge sets e's flags from what sess knows of its past, then makes e part
// of that past: its country joins sess.Countries and, if it is located, it
// becomes sess.LastLocated. An entry without coordinates changes neither
// the last fix nor the next entry's judgement, so unlocated entries are
// skipped when travel is measured.
func (c Config) judge(sess *Session, e *ActivityEntry) {
	if e.Country != nil && !slices.Contains(sess.Countries, *e.Country) {
		e.NewCountry = true
		sess.Countries = append(slices.Clip(sess.Countries), *e.Country)
	}
	if fix, ok := fixOf(e.Location, e.At); ok {
		if prev := sess.LastLocated; prev != nil {
			e.ImpossibleTravel = impossibleTravel(*prev, fix, c.MaxTravelSpeed)
		}
		sess.LastLocated = &fix
	}
}

// FirstEntry returns the trail entry that Start records for a session
// started as s is (by its first client, InitiatedAt and LastMetadata), and
// sets s.Countries and s.LastLocated to match. It is for sessions made
// without Start, such as seeded demo data, so that their trail reads as if
// they had been started through the API.
func FirstEntry(s *Session) *ActivityEntry {
	m := s.LastMetadata
	e := &ActivityEntry{At: s.InitiatedAt, IPAddress: m.IPAddress, UserAgent: m.UserAgent, Location: m.Location}
	if len(s.ClientIDs) > 0 {
		e.ClientID = s.ClientIDs[0]
	}
	s.Countries, s.LastLocated = nil, nil
	DefaultConfig().judge(s, e) // nothing before it: the speed is not used
	return e
}
