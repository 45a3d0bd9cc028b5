package sessions

import "context"

// BulkLoader is implemented by stores that can load many sessions at once,
// far faster than CreateSession one by one: for seeding benchmarks and for
// imports from another system. It is optional; callers check for it with a
// type assertion and otherwise fall back to CreateSession.
type BulkLoader interface {
	// BulkLoad stores sessions, all of the tenant (their TenantID is
	// ignored), registering users that are not known yet. Sessions are
	// stored as given (state, metadata, Countries and LastLocated) with
	// an empty activity trail, as sessions started before trails existed:
	// a first entry each would double the rows written. Nor does it
	// record events: the sessions did not start here, and an import
	// should not set off a webhook per session. The load runs in
	// large transactions, so a failure may leave earlier batches stored;
	// it is not for the API's hot path. Returns ECONFLICT if a session ID
	// or key is taken.
	BulkLoad(ctx context.Context, tenantID int64, sessions []*Session) error
}
