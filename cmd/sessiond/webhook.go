package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/sessiond/sessiond/internal/postgres"
	"github.com/sessiond/sessiond/internal/sessions"
)

// runWebhook manages tenants' webhook endpoints and their dead letters.
// The signing secret of a new webhook is printed alone on standard output,
// once, so that scripts can capture it; everything else goes to standard
// error or, for listings, standard output. Listings never show secrets.
func runWebhook(ctx context.Context, env *environment, args []string) error {
	byID := func(cmd string) func(context.Context, *environment, []string) error {
		return func(ctx context.Context, env *environment, args []string) error {
			return runWebhookByID(ctx, env, cmd, args)
		}
	}
	return dispatch(ctx, env, "webhook", []command{
		{"add", runWebhookAdd}, {"list", runWebhookList}, {"remove", byID("remove")},
		{"dead-letters", runWebhookDead}, {"retry", byID("retry")},
	}, args)
}

// openWebhookStore opens the store at db as a WebhookStore.
func openWebhookStore(ctx context.Context, db string) (sessions.Store, sessions.WebhookStore, error) {
	store, err := openStore(ctx, db, postgres.Options{})
	if err != nil {
		return nil, nil, err
	}
	ws, ok := store.(sessions.WebhookStore)
	if !ok {
		store.Close()
		return nil, nil, errors.New("webhook: this store does not keep webhooks")
	}
	return store, ws, nil
}

func runWebhookAdd(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("webhook add", flag.ContinueOnError)
	db := fs.String("db", defaultDB, dbHelp)
	tenant := fs.String("tenant", sessions.DefaultTenant, "tenant whose events the endpoint receives (it must exist: see apikey create)")
	endpoint := fs.String("url", "", "the endpoint's http:// or https:// URL (required)")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	p := sessions.Problems{}
	if msg := sessions.CheckWebhookURL(*endpoint); msg != "" {
		p.Add("--url", msg)
	}
	if msg := sessions.CheckID(*tenant); msg != "" {
		p.Add("--tenant", msg)
	}
	if err := p.Err(); err != nil {
		return fmt.Errorf("webhook add: %s", problems(err))
	}
	store, ws, err := openWebhookStore(ctx, *db)
	if err != nil {
		return err
	}
	defer store.Close()
	svc := sessions.NewService(store, sessions.DefaultConfig(), nil, nil)
	w := &sessions.Webhook{ID: sessions.NewWebhookID(), TenantName: *tenant, URL: *endpoint,
		Secret: sessions.NewWebhookSecret(), CreatedAt: svc.Now()}
	if err := ws.CreateWebhook(ctx, w); err != nil {
		return fmt.Errorf("webhook add: %s", sessions.ErrorMessage(err))
	}
	fmt.Fprintf(env.stderr, "added webhook %s for tenant %q to %s; it receives the events recorded from now on.\n"+
		"Its signing secret is shown only now:\n", w.ID, w.TenantName, w.URL)
	fmt.Fprintln(env.stdout, w.Secret)
	return nil
}

func runWebhookList(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("webhook list", flag.ContinueOnError)
	db := fs.String("db", defaultDB, dbHelp)
	if err := env.parse(fs, args); err != nil {
		return err
	}
	store, ws, err := openWebhookStore(ctx, *db)
	if err != nil {
		return err
	}
	defer store.Close()
	hooks, err := ws.ListWebhooks(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTENANT\tURL\tCREATED")
	for _, h := range hooks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", h.ID, h.TenantName, h.URL, formatTime(h.CreatedAt))
	}
	return tw.Flush()
}

// runWebhookByID runs remove or retry, which take one webhook ID.
func runWebhookByID(ctx context.Context, env *environment, cmd string, args []string) error {
	fs := flag.NewFlagSet("webhook "+cmd, flag.ContinueOnError)
	db := fs.String("db", defaultDB, dbHelp)
	fs.Usage = func() {
		fmt.Fprintf(env.stderr, "usage: sessiond webhook %s [--db URL] WEBHOOK_ID\n", cmd)
		fs.PrintDefaults()
	}
	id, err := env.parseOneArg(fs, args, "webhook ID (see webhook list)")
	if err != nil {
		return err
	}
	store, ws, err := openWebhookStore(ctx, *db)
	if err != nil {
		return err
	}
	defer store.Close()
	if cmd == "remove" {
		if err := ws.DeleteWebhook(ctx, id); err != nil {
			return fmt.Errorf("webhook remove %s: %s", id, sessions.ErrorMessage(err))
		}
		fmt.Fprintf(env.stderr, "removed webhook %s and its deliveries\n", id)
		return nil
	}
	svc := sessions.NewService(store, sessions.DefaultConfig(), nil, nil)
	n, err := ws.RetryDead(ctx, id, svc.Now())
	if err != nil {
		return fmt.Errorf("webhook retry %s: %s", id, sessions.ErrorMessage(err))
	}
	fmt.Fprintf(env.stderr, "queued %d dead letter(s) of webhook %s for delivery again\n", n, id)
	return nil
}

// maxDeadListed bounds the dead-letters listing.
const maxDeadListed = 1000

func runWebhookDead(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("webhook dead-letters", flag.ContinueOnError)
	db := fs.String("db", defaultDB, dbHelp)
	id := fs.String("webhook", "", "only this webhook's dead letters")
	if err := env.parse(fs, args); err != nil {
		return err
	}
	store, ws, err := openWebhookStore(ctx, *db)
	if err != nil {
		return err
	}
	defer store.Close()
	ds, err := ws.ListDeliveries(ctx, *id, sessions.DeliveryDead, maxDeadListed)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WEBHOOK\tEVENT\tTYPE\tUSER\tOCCURRED\tATTEMPTS\tLAST ERROR")
	for _, d := range ds {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", d.WebhookID, d.Event.ID(), d.Event.Type, d.Event.UserID,
			formatTime(d.Event.OccurredAt), d.Attempts, d.LastError)
	}
	return tw.Flush()
}
