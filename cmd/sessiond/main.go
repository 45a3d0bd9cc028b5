// Command sessiond is a self-hostable user-session service: applications
// start and validate sessions through it, operators list and revoke them.
//
// Usage:
//
//	sessiond serve    [flags]   run the HTTP API
//	sessiond migrate  [flags]   apply database migrations and exit
//	sessiond apikey   create|list|revoke [flags]
//	sessiond tenant   show|privacy [flags]
//	sessiond geoip    lookup --geoip-db PATH IP
//	sessiond webhook  add|list|remove|dead-letters|retry [flags]
//	sessiond bench    [flags]   measure the API under load
//	sessiond version
//
// Every flag can also be set through the environment as SESSIOND_<NAME>,
// e.g. --db as SESSIOND_DB and --touch-interval as SESSIOND_TOUCH_INTERVAL;
// a flag on the command line wins over the environment.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "sessiond:", err)
		}
		os.Exit(2)
	}
}

// run is the whole program with its dependencies passed in, so tests can
// run the real thing in-process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command given")
	}
	env := &environment{getenv: getenv, stdout: stdout, stderr: stderr}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServe(ctx, env, rest)
	case "migrate":
		return runMigrate(ctx, env, rest)
	case "apikey":
		return runAPIKey(ctx, env, rest)
	case "tenant":
		return runTenant(ctx, env, rest)
	case "geoip":
		return runGeoIP(ctx, env, rest)
	case "webhook":
		return runWebhook(ctx, env, rest)
	case "bench":
		return runBench(ctx, env, rest)
	case "version":
		fmt.Fprintln(stdout, "sessiond", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

const usage = `sessiond: know every signed-in session of every user, and end it now.

Commands:
  serve     run the HTTP API (try: sessiond serve --demo)
  migrate   apply database migrations and exit
  apikey    create, list and revoke API keys
  tenant    show a tenant's settings, set its privacy settings (see docs/privacy.md)
  geoip     look up an IP address in a GeoIP database (geoip lookup --geoip-db PATH IP)
  webhook   add, list and remove event webhooks; list and retry dead letters
  bench     seed a fresh store and measure the API under load (see BENCHMARKS.md)
  version   print the version

Run "sessiond COMMAND -h" for a command's flags. Every flag can also be set
as an environment variable SESSIOND_<FLAG>, e.g. SESSIOND_DB=sqlite:sessiond.db.
`

// environment is what a subcommand gets from the process.
type environment struct {
	getenv         func(string) string
	stdout, stderr io.Writer
}

// parse fills fs from the environment (SESSIOND_<NAME>) and then from args,
// so the command line wins. Arguments left after the flags are an error.
func (e *environment) parse(fs *flag.FlagSet, args []string) error {
	rest, err := e.parseArgs(fs, args)
	if err == nil && len(rest) > 0 {
		err = fmt.Errorf("unexpected arguments: %s", strings.Join(rest, " "))
	}
	return err
}

// parseArgs is parse for commands that take arguments after the flags; it
// returns them.
func (e *environment) parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(e.stderr)
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if v := e.getenv(name); v != "" && err == nil {
			if serr := fs.Set(f.Name, v); serr != nil {
				err = fmt.Errorf("%s: %w", name, serr)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return fs.Args(), nil
}

// envName is the environment variable that sets a flag.
func envName(flagName string) string {
	return "SESSIOND_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseOneArg is parse for commands that take exactly one argument (an ID
// or an address), accepted before or after the flags. what names it in
// the error.
func (e *environment) parseOneArg(fs *flag.FlagSet, args []string, what string) (string, error) {
	var arg string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, args = args[0], args[1:]
	}
	rest, err := e.parseArgs(fs, args)
	if err != nil {
		return "", err
	}
	if arg == "" && len(rest) == 1 {
		arg = rest[0]
	} else if len(rest) > 0 || arg == "" {
		fs.Usage()
		return "", fmt.Errorf("%s: want exactly one %s", fs.Name(), what)
	}
	return arg, nil
}

// command is one subcommand of a command group such as apikey.
type command struct {
	name string
	run  func(ctx context.Context, env *environment, args []string) error
}

// dispatch runs the subcommand of group that args name.
func dispatch(ctx context.Context, env *environment, group string, cmds []command, args []string) error {
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.name
	}
	want := strings.Join(names, ", ")
	if n := len(names); n > 1 {
		want = strings.Join(names[:n-1], ", ") + " or " + names[n-1]
	}
	if len(args) == 0 {
		return fmt.Errorf("%s: want %s", group, want)
	}
	for _, c := range cmds {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	return fmt.Errorf("%s: unknown command %q: want %s", group, args[0], want)
}
