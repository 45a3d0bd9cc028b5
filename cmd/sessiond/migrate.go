package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/sessiond/sessiond/internal/postgres"
)

// runMigrate applies the store's migrations and exits; serve does the same
// at start, so this is for deployments that migrate as a separate step.
func runMigrate(ctx context.Context, env *environment, args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	db := fs.String("db", defaultDB, dbHelp)
	if err := env.parse(fs, args); err != nil {
		return err
	}
	store, err := openStore(ctx, *db, postgres.Options{})
	if err != nil {
		return err
	}
	defer store.Close()
	fmt.Fprintln(env.stderr, "sessiond: migrations applied")
	return nil
}
