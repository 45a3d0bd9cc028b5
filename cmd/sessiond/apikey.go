package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/sessions"
)

// runAPIKey manages API keys. The secret of a new key is printed alone on
// standard output so that scripts can capture it; everything else goes to
// standard error. Secrets are stored only as hashes and never shown again.
func runAPIKey(ctx context.Context, env *environment, args []string) error {
	return dispatch(ctx, env, "apikey", []command{
		{"create", runAPIKeyCreate}, {"list", runAPIKeyList}, {"revoke", runAPIKeyRevoke},
	}, args)
}

func runAPIKeyCreate(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("apikey create", flag.ContinueOnError)
	db := fs.String("db", defaultDB, dbHelp)
	name := fs.String("name", "", "a name for the key, e.g. the application that uses it (required)")
	scopes := fs.String("scopes", "", "comma-separated scopes: "+scopeList()+" (required)")
	tenant := fs.String("tenant", sessions.DefaultTenant, "tenant the key belongs to; a new name creates the tenant")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	sc, err := sessions.ParseScopes(*scopes)
	if err != nil {
		return fmt.Errorf("--scopes: %s", problems(err))
	}
	store, err := openStore(ctx, *db, postgres.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	svc := sessions.NewService(store, sessions.DefaultConfig(), nil, nil)
	k, secret, err := svc.CreateAPIKey(ctx, *tenant, *name, sc)
	if err != nil {
		return fmt.Errorf("apikey create: %s", problems(err))
	}
	fmt.Fprintf(env.stderr, "created API key %s (%q) in tenant %q with scopes %s; it is shown only now:\n",
		k.ID, k.Name, k.TenantName, joinScopes(k.Scopes))
	fmt.Fprintln(env.stdout, secret)
	return nil
}

func runAPIKeyList(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("apikey list", flag.ContinueOnError)
	db := fs.String("db", defaultDB, dbHelp)
	if err := env.parse(fs, args); err != nil {
		return err
	}
	store, err := openStore(ctx, *db, postgres.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	keys, err := store.ListAPIKeys(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tTENANT\tNAME\tSCOPES\tCREATED\tREVOKED")
	for _, k := range keys {
		revoked := "-"
		if k.RevokedAt != 0 {
			revoked = formatTime(k.RevokedAt)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.TenantName, k.Name, joinScopes(k.Scopes), formatTime(k.CreatedAt), revoked)
	}
	return w.Flush()
}

func runAPIKeyRevoke(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("apikey revoke", flag.ContinueOnError)
	db := fs.String("db", defaultDB, dbHelp)
	fs.Usage = func() {
		fmt.Fprintln(env.stderr, "usage: sessiond apikey revoke [--db URL] KEY_ID")
		fs.PrintDefaults()
	}
	id, err := env.parseOneArg(fs, args, "key ID (see apikey list)")
	if err != nil {
		return err
	}
	store, err := openStore(ctx, *db, postgres.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	svc := sessions.NewService(store, sessions.DefaultConfig(), nil, nil)
	if err := store.RevokeAPIKey(ctx, id, svc.Now()); err != nil {
		return fmt.Errorf("apikey revoke %s: %s", id, sessions.ErrorMessage(err))
	}
	fmt.Fprintf(env.stderr, "revoked API key %s\n", id)
	return nil
}

func scopeList() string { return joinScopes(sessions.Scopes) }

func joinScopes(scopes []sessions.Scope) string {
	s := make([]string, len(scopes))
	for i, sc := range scopes {
		s[i] = string(sc)
	}
	return strings.Join(s, ",")
}

func formatTime(unix int64) string { return time.Unix(unix, 0).UTC().Format(time.RFC3339) }

// problems renders an error with every invalid field, for the terminal.
func problems(err error) string {
	var e *sessions.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return sessions.ErrorMessage(err)
	}
	var parts []string
	for field, msgs := range e.Fields {
		for _, m := range msgs {
			parts = append(parts, field+" "+m)
		}
	}
	return strings.Join(parts, "; ")
}
