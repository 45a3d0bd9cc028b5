package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable writes the report as a table for people, in the order the
// scenarios ran.
func (r *Report) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "sessiond bench: %s, %d sessions of %d users + %d of one user; %s per scenario, concurrency %d (%s)\n",
		r.Store, r.Sessions, r.Users, r.Heavy, r.Duration, r.Concurrency, r.Loop)
	fmt.Fprintf(w, "%s, %d CPUs, GOMAXPROCS %d\n", r.GoVersion, r.NumCPU, r.GOMAXPROCS)
	bulk := "bulk path"
	if !r.Seed.Bulk {
		bulk = "one by one (the store has no bulk path)"
	}
	fmt.Fprintf(w, "seeding: %d sessions in %.1f s, %.0f sessions/s (%s), peak RSS %.0f MiB\n\n",
		r.Seed.Sessions, r.Seed.Seconds, r.Seed.PerSecond, bulk, r.Seed.PeakRSSMiB)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\treq/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\terrors\tof ceiling\tpeak RSS MiB\t")
	for _, x := range r.Results {
		of := "-"
		if x.OfCeiling > 0 {
			of = fmt.Sprintf("%.0f%%", 100*x.OfCeiling)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%.2f\t%.2f\t%.2f\t%.1f\t%d\t%s\t%.0f\t\n",
			x.Scenario, x.RPS, x.P50Ms, x.P90Ms, x.P99Ms, x.MaxMs, x.Errors, of, x.PeakRSSMiB)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, x := range r.Results {
		if x.FirstErr != "" {
			fmt.Fprintf(w, "%s: first error: %s\n", x.Scenario, x.FirstErr)
		}
	}
	return nil
}
