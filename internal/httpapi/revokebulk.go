package httpapi

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/sessiond/sessiond/internal/sessions"
)

// handleSessionsRevokeBulk serves POST /api/sessions/revoke_bulk: it
// revokes every active session of the key's tenant that matches a filter,
// or with "dry_run" only counts them and shows a sample. The sessions end
// as "bulk_revoked", by the request's key. A filter must set at least one
// member, so that no request revokes a whole tenant by mistake.
func handleSessionsRevokeBulk(svc *sessions.Service) keyFunc {
	type filter struct {
		UserID         *string `json:"user_id"`
		ClientID       *string `json:"client_id"`
		Country        *string `json:"country"`
		IdleLongerThan *int64  `json:"idle_longer_than"`
		StartedBefore  *int64  `json:"started_before"`
	}
	type request struct {
		Filter     *filter `json:"filter"`
		DryRun     bool    `json:"dry_run"`
		SampleSize *int    `json:"sample_size"`
	}
	return func(w http.ResponseWriter, r *http.Request, key *sessions.APIKey) error {
		req, err := decode[request](w, r, nil)
		if err != nil {
			return err
		}
		// Members that are given but empty or below 1 are invalid here:
		// in the domain's filter they would mean "any".
		p := sessions.Problems{}
		var f sessions.BulkFilter
		given := false
		str := func(name string, v *string, dst *string) {
			if v == nil {
				return
			}
			given = true
			if *v == "" {
				p.Add("filter."+name, "must not be empty")
			}
			*dst = *v
		}
		num := func(name string, v *int64, dst *int64) {
			if v == nil {
				return
			}
			given = true
			if *v < 1 {
				p.Add("filter."+name, "must be an integer >= 1")
				return
			}
			*dst = *v
		}
		if req.Filter == nil {
			p.Add("filter", "is required")
		} else {
			str("user_id", req.Filter.UserID, &f.UserID)
			str("client_id", req.Filter.ClientID, &f.ClientID)
			str("country", req.Filter.Country, &f.Country)
			num("idle_longer_than", req.Filter.IdleLongerThan, &f.IdleLongerThan)
			num("started_before", req.Filter.StartedBefore, &f.StartedBefore)
		}
		sampleSize := sessions.DefaultSampleSize
		if req.SampleSize != nil {
			sampleSize = *req.SampleSize
			if sampleSize < 0 || sampleSize > sessions.MaxSampleSize {
				p.Add("sample_size", "must be an integer from 0 to 100")
			}
		}
		if err := f.Check(); err != nil {
			var de *sessions.Error
			if errors.As(err, &de) {
				for field, msgs := range de.Fields {
					if _, seen := p[field]; seen || field == "filter" && (req.Filter == nil || given) {
						continue // reported above, or every given member was invalid
					}
					p[field] = msgs
				}
			}
		}
		if err := p.Err(); err != nil {
			return err
		}
		if req.DryRun {
			n, sample, err := svc.PreviewRevokeMatching(r.Context(), key.TenantID, f, sampleSize)
			if err != nil {
				return err
			}
			return encode(w, http.StatusOK, bulkResultJSON{dryRun: true, count: n, sample: sample})
		}
		n, err := svc.RevokeMatching(r.Context(), key.TenantID, f, key.ID)
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, bulkResultJSON{count: n})
	}
}

// bulkResultJSON is the answer of a bulk revocation: whether it was a dry
// run, how many sessions match (dry run) or were revoked, and for a dry
// run a sample of them, each a session object with its "user_id".
type bulkResultJSON struct {
	dryRun bool
	count  int
	sample []*sessions.Session
}

func (v bulkResultJSON) appendJSON(b []byte) []byte {
	b = append(b, `{"dry_run":`...)
	b = strconv.AppendBool(b, v.dryRun)
	b = append(b, `,"count":`...)
	b = strconv.AppendInt(b, int64(v.count), 10)
	if v.dryRun {
		b = append(b, `,"sample":[`...)
		for i, s := range v.sample {
			if i > 0 {
				b = append(b, ',')
			}
			b = userSessionJSON{s: s}.appendJSON(b)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}
