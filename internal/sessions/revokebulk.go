package sessions

import "context"

// Limits of bulk revocation.
const (
	// RevokeBatch is how many sessions one transaction of a bulk
	// revocation revokes: enough that a large run takes few round trips,
	// few enough that each transaction holds its locks (SQLite's one
	// writer, PostgreSQL's row locks) for milliseconds, so that the API's
	// own writes barely wait.
	RevokeBatch = 500
	// DefaultSampleSize and MaxSampleSize bound the sample a dry run shows.
	DefaultSampleSize = 10
	MaxSampleSize     = 100
)

// PreviewRevokeMatching is the dry run of RevokeMatching: it counts the
// tenant's active sessions that match f and returns the first sampleSize
// of them (0-MaxSampleSize), in session ID order, revoking nothing.
// Returns EINVALID for an empty or invalid filter or sample size.
func (s *Service) PreviewRevokeMatching(ctx context.Context, tenantID int64, f BulkFilter, sampleSize int) (int, []*Session, error) {
	p := Problems{}
	f.check(p)
	if sampleSize < 0 || sampleSize > MaxSampleSize {
		p.Add("sample_size", "must be an integer from 0 to 100")
	}
	if err := p.Err(); err != nil {
		return 0, nil, err
	}
	return s.store.CountMatching(ctx, tenantID, f, s.Now(), sampleSize)
}

// RevokeMatching revokes every active session of the tenant that matches
// f, recording ReasonBulkRevoked and by, the ID of the API key that asked,
// and returns how many it revoked. Returns EINVALID for an empty or
// invalid filter, so that no mistake revokes a whole tenant.
//
// It revokes RevokeBatch sessions per transaction, walking the tenant's
// matching sessions in session ID order, until none is left. Each batch
// commits on its own, so an interruption (a lost connection, a restart,
// an unavailable store) leaves the batches before it revoked and the rest
// active; since the filter only ever matches active sessions, running the
// same revocation again continues where the interrupted one stopped, and
// counts only what it revokes itself. If it fails after some batches, it
// returns how many it had revoked with the error.
//
// "Idle longer than" is measured from the time the run starts, so that
// every batch applies the same cut-off. Sessions that start while a run
// is in progress may or may not be revoked by it (IDs are random), which
// is why a filter should pin them down (started_before) when that matters.
func (s *Service) RevokeMatching(ctx context.Context, tenantID int64, f BulkFilter, by string) (int, error) {
	if err := f.Check(); err != nil {
		return 0, err
	}
	now := s.Now()
	total := 0
	for {
		n, next, err := s.store.RevokeMatching(ctx, tenantID, f, now, by, RevokeBatch)
		total += n
		if err != nil || next == "" {
			return total, err
		}
		f.After = next
	}
}
