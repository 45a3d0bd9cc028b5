package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/netip"

	"github.com/sessiond/sessiond/internal/geoip"
)

// runGeoIP works with GeoIP databases. Its one command, lookup, prints what
// sessiond would record for an IP address, so an operator can check a
// database file before pointing the server at it.
func runGeoIP(ctx context.Context, env *environment, args []string) error {
	return dispatch(ctx, env, "geoip", []command{{"lookup", runGeoIPLookup}}, args)
}

func runGeoIPLookup(_ context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("geoip lookup", flag.ContinueOnError)
	dbPath := fs.String("geoip-db", "", "GeoIP City database (.mmdb, MaxMind GeoLite2/GeoIP2 City or DB-IP City Lite); several files separated by commas are tried in order (required)")
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: sessiond geoip lookup --geoip-db PATH[,PATH...] IP")
		fs.PrintDefaults()
	}
	arg, err := env.parseOneArg(fs, args, "IP address")
	if err != nil {
		return err
	}
	if *dbPath == "" {
		fs.Usage()
		return errors.New("geoip lookup: --geoip-db is required")
	}
	// The same checks as the API applies to ip_address.
	ip, err := netip.ParseAddr(arg)
	if err != nil || ip.Zone() != "" {
		return fmt.Errorf("geoip lookup: %q is not an IPv4 or IPv6 address", arg)
	}
	locator, err := geoip.NewReloader(*dbPath, nil)
	if err != nil {
		return err
	}
	defer locator.Close()
	loc := locator.Locate(ip)
	enc := json.NewEncoder(env.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		IPAddress string  `json:"ip_address"`
		Country   *string `json:"country"`
		City      *string `json:"city"`
		Region    *string `json:"region"`
		Latitude  *string `json:"latitude"`
		Longitude *string `json:"longitude"`
	}{ip.Unmap().String(), loc.Country, loc.City, loc.Region, loc.Latitude, loc.Longitude})
}
