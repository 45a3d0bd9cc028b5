package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/sessions"
)

// runTenant shows and changes a tenant's settings. Only privacy settings
// exist so far (see docs/privacy.md); a tenant itself is created with its
// first API key.
func runTenant(ctx context.Context, env *environment, args []string) error {
	return dispatch(ctx, env, "tenant", []command{{"show", runTenantShow}, {"privacy", runTenantPrivacy}}, args)
}

func runTenantShow(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("tenant show", flag.ContinueOnError)
	db := fs.String("db", defaultDB, dbHelp)
	tenant := fs.String("tenant", sessions.DefaultTenant, "the tenant to show")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	store, err := openStore(ctx, *db, postgres.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	svc := sessions.NewService(store, sessions.DefaultConfig(), nil, nil)
	p, err := svc.TenantPrivacy(ctx, *tenant)
	if err != nil {
		return fmt.Errorf("tenant show %s: %s", *tenant, sessions.ErrorMessage(err))
	}
	return printPrivacy(env, *tenant, p)
}

// runTenantPrivacy changes the settings whose flags are given (on the
// command line or in the environment) and keeps the others, then prints
// the result.
func runTenantPrivacy(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("tenant privacy", flag.ContinueOnError)
	db := fs.String("db", defaultDB, dbHelp)
	tenant := fs.String("tenant", sessions.DefaultTenant, "the tenant to change")
	trunc := fs.Bool("ip-truncation", false, "store IPv4 addresses cut to their /24 and IPv6 ones to their /48")
	loc := fs.String("location", sessions.LocationCity, "location kept: city (with coordinates) or country (country and region only)")
	drop := fs.Duration("drop-ended-metadata-after", 0, "erase the IP, user agent and location of sessions this long after they ended, e.g. 720h (0: keep until the purge)")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	store, err := openStore(ctx, *db, postgres.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	svc := sessions.NewService(store, sessions.DefaultConfig(), nil, nil)
	p, err := svc.TenantPrivacy(ctx, *tenant)
	if err != nil {
		return fmt.Errorf("tenant privacy %s: %s", *tenant, sessions.ErrorMessage(err))
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "ip-truncation":
			p.IPTruncation = *trunc
		case "location":
			p.Location = *loc
		case "drop-ended-metadata-after":
			p.DropEndedMetadataAfter = *drop
		}
	})
	if err := svc.SetTenantPrivacy(ctx, *tenant, p); err != nil {
		return fmt.Errorf("tenant privacy %s: %s", *tenant, problems(err))
	}
	if p, err = svc.TenantPrivacy(ctx, *tenant); err != nil {
		return fmt.Errorf("tenant privacy %s: %s", *tenant, sessions.ErrorMessage(err))
	}
	fmt.Fprintf(env.stderr, "updated the privacy settings of tenant %q; running servers apply them within %s\n",
		*tenant, sessions.PrivacyCacheTTL)
	return printPrivacy(env, *tenant, p)
}

// printPrivacy prints a tenant's settings, one per line, named as the
// flags that set them.
func printPrivacy(env *environment, tenant string, p sessions.Privacy) error {
	drop := p.DropEndedMetadataAfter.String()
	if p.DropEndedMetadataAfter == 0 {
		drop = "0 (kept until the session is purged)"
	}
	w := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "tenant\t%s\n", tenant)
	fmt.Fprintf(w, "ip-truncation\t%v\n", p.IPTruncation)
	fmt.Fprintf(w, "location\t%s\n", p.Location)
	fmt.Fprintf(w, "drop-ended-metadata-after\t%s\n", drop)
	return w.Flush()
}
