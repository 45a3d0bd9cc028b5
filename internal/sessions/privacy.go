package sessions

import (
	"context"
	"net/netip"
	"sync"
	"time"
)

// Privacy is a tenant's choice of how much of its users' network metadata
// sessiond keeps. The zero value keeps what the API has always kept: full
// addresses, city-level locations, metadata until the session is purged.
type Privacy struct {
	// IPTruncation stores IPv4 addresses cut to their /24 and IPv6 ones to
	// their /48 (the rest of the address zeroed), before anything is
	// stored or located.
	IPTruncation bool
	// Location is LocationCity (or "", the same) to keep the city and its
	// coordinates, or LocationCountry to keep only the country and region.
	Location string
	// DropEndedMetadataAfter, if positive, is how long after a session
	// ended (was revoked or expired) its IP address, user agent and
	// location, and those of its activity trail, are erased; the session
	// itself stays until it is purged. Zero keeps them until the purge.
	DropEndedMetadataAfter time.Duration
}

// The values of Privacy.Location.
const (
	LocationCity    = "city"
	LocationCountry = "country"
)

// PrivacyCacheTTL is how long a Service uses a tenant's Privacy before it
// reads it again: a change of settings takes up to this long to apply on
// every node, and validations do not pay a store round trip for it.
const PrivacyCacheTTL = 30 * time.Second

// Normalize returns p with its defaults spelled out (Location "city").
func (p Privacy) Normalize() Privacy {
	if p.Location == "" {
		p.Location = LocationCity
	}
	return p
}

// Validate checks the settings.
func (p Privacy) Validate() error {
	pr := Problems{}
	if p.Location != "" && p.Location != LocationCity && p.Location != LocationCountry {
		pr.Add("location", "must be city or country")
	}
	if p.DropEndedMetadataAfter < 0 {
		pr.Add("drop_ended_metadata_after", "must not be negative")
	} else if p.DropEndedMetadataAfter%time.Second != 0 {
		pr.Add("drop_ended_metadata_after", "must be a whole number of seconds")
	}
	return pr.Err()
}

// Mask returns the form of ip that is stored under p: unmapped (an
// IPv4-mapped IPv6 address is IPv4) and, under IPTruncation, cut to its
// /24 (IPv4) or /48 (IPv6). The invalid address stays invalid.
func (p Privacy) Mask(ip netip.Addr) netip.Addr {
	if !ip.IsValid() {
		return ip
	}
	ip = ip.Unmap()
	if !p.IPTruncation {
		return ip
	}
	bits := 48
	if ip.Is4() {
		bits = 24
	}
	pfx, err := ip.Prefix(bits)
	if err != nil {
		return ip
	}
	return pfx.Addr()
}

// Coarsen returns the part of loc that is stored under p: all of it, or
// with LocationCountry only the country and region.
func (p Privacy) Coarsen(loc Location) Location {
	if p.Location != LocationCountry {
		return loc
	}
	return Location{Country: loc.Country, Region: loc.Region}
}

// privacyCache keeps each tenant's Privacy for PrivacyCacheTTL.
type privacyCache struct {
	mu      sync.Mutex
	entries map[int64]cachedPrivacy
}

type cachedPrivacy struct {
	p       Privacy
	expires time.Time
}

// privacy returns the tenant's settings, from the cache while they are
// younger than PrivacyCacheTTL. A tenant the store does not know has the
// defaults: its sessions cannot be stored anyway.
func (s *Service) privacy(ctx context.Context, tenantID int64) (Privacy, error) {
	now := s.now()
	c := &s.privacyCache
	c.mu.Lock()
	e, ok := c.entries[tenantID]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.p, nil
	}
	p, err := s.store.TenantPrivacy(ctx, tenantID)
	if ErrorCode(err) == ENOTFOUND {
		p, err = Privacy{}, nil
	}
	if err != nil {
		return Privacy{}, err
	}
	p = p.Normalize()
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[int64]cachedPrivacy{}
	}
	c.entries[tenantID] = cachedPrivacy{p: p, expires: now.Add(PrivacyCacheTTL)}
	c.mu.Unlock()
	return p, nil
}

// TenantPrivacy returns the settings of the named tenant, read from the
// store. Returns ENOTFOUND for an unknown tenant.
func (s *Service) TenantPrivacy(ctx context.Context, tenant string) (Privacy, error) {
	id, err := s.store.TenantID(ctx, tenant)
	if err != nil {
		return Privacy{}, err
	}
	p, err := s.store.TenantPrivacy(ctx, id)
	return p.Normalize(), err
}

// SetTenantPrivacy stores the named tenant's settings. This node uses
// them at once; other nodes within PrivacyCacheTTL. Returns EINVALID for
// invalid settings and ENOTFOUND for an unknown tenant.
func (s *Service) SetTenantPrivacy(ctx context.Context, tenant string, p Privacy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	p = p.Normalize()
	if err := s.store.SetTenantPrivacy(ctx, tenant, p); err != nil {
		return err
	}
	s.privacyCache.mu.Lock()
	clear(s.privacyCache.entries)
	s.privacyCache.mu.Unlock()
	return nil
}

// ScrubEndedMetadata erases the IP address, user agent and location of up
// to batch ended sessions, and of their activity trails, whose tenant's
// DropEndedMetadataAfter has passed since they ended, and returns how many
// sessions it scrubbed.
func (s *Service) ScrubEndedMetadata(ctx context.Context, batch int) (int, error) {
	return s.store.ScrubEndedMetadata(ctx, s.Now(), batch)
}
