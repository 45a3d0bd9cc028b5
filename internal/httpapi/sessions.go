package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sessiond/sessiond/internal/sessions"
)

// listParams are the query parameters of the list endpoint.
var listParams = [...]string{"page", "size", "client_id", "sort", "status"}

// maxPage is the largest page whose offset cannot overflow; larger pages
// are past the end of any list.
const maxPage = (1<<63-1)/sessions.MaxPageSize - 1

// handleSessionsList serves GET /api/users/{user_id}/sessions, the seed's
// "Get all sessions": one page of the user's active sessions, with the
// X-Pagination and Link headers. With status=ended it lists the user's
// ended sessions instead, each with when and why it ended.
func handleSessionsList(svc *sessions.Service) keyFunc {
	return func(w http.ResponseWriter, r *http.Request, key *sessions.APIKey) error {
		q, given, err := parseListQuery(r.PathValue("user_id"), r.URL.RawQuery)
		if err != nil {
			return err
		}
		q.TenantID = key.TenantID
		list, err := fetchPage(w, r, q.Page, q.Size, given, func(page int) ([]*sessions.Session, int, error) {
			q.Page = page
			return svc.List(r.Context(), q)
		})
		if err != nil {
			return err
		}
		if q.Status == sessions.StatusEnded {
			return encode(w, http.StatusOK, endedListJSON{list, svc.Config()})
		}
		return encode(w, http.StatusOK, sessionListJSON(list))
	}
}

// fetchPage calls fetch for one page of size items and, once it succeeds,
// sets the X-Pagination and Link headers of that page; given holds the
// query parameters the links keep besides page and size. A page too large
// to have an offset is past the end of any list: fetch then reads page 1
// only to learn the total, and the page is empty.
func fetchPage[T any](w http.ResponseWriter, r *http.Request, page, size int, given url.Values, fetch func(page int) ([]T, int, error)) ([]T, error) {
	read := page
	if read > maxPage {
		read = 1
	}
	items, total, err := fetch(read)
	if err != nil {
		return nil, err
	}
	if read != page {
		items = nil
	}
	last := max(1, (total+size-1)/size)
	h := w.Header()
	h.Set("X-Pagination", string(appendPagination(nil, size, page, total, page < last)))
	h.Set("Link", linkHeader(r.URL.EscapedPath(), size, page, last, given))
	return items, nil
}

// parseQuery parses a query string. A query string that cannot be parsed,
// or one of names given more than once, is 400; other parameters are not
// looked at, so unknown ones are ignored.
func parseQuery(rawQuery string, names ...string) (url.Values, error) {
	vals, err := url.ParseQuery(rawQuery)
	if err != nil {
		return nil, badRequest("the query string is malformed")
	}
	for _, name := range names {
		if len(vals[name]) > 1 {
			return nil, badRequest("the query parameter " + name + " is given more than once")
		}
	}
	return vals, nil
}

// parsePaging reads the page (default 1) and size (default
// sessions.DefaultPageSize) parameters of vals, adding an invalid one to p.
func parsePaging(vals url.Values, p sessions.Problems) (page, size int) {
	page, size = 1, sessions.DefaultPageSize
	if v, ok := vals["page"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 {
			p.Add("page", "must be an integer >= 1")
		}
		page = n
	}
	if v, ok := vals["size"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > sessions.MaxPageSize {
			p.Add("size", "must be an integer from 1 to 100")
		}
		size = n
	}
	return page, size
}

// parseListQuery reads the list endpoint's query string. A query string that
// cannot be parsed, or a known parameter given twice, is 400; invalid values
// are one 422 that names every one of them. given holds the client_id,
// sort and status the client gave, for the Link header.
func parseListQuery(userID, rawQuery string) (q sessions.ListQuery, given url.Values, err error) {
	vals, err := parseQuery(rawQuery, listParams[:]...)
	if err != nil {
		return q, nil, err
	}
	q = sessions.ListQuery{
		UserID: userID,
		Sort:   sessions.SortInitiatedAt,
		Desc:   true,
	}
	p := sessions.Problems{}
	if msg := sessions.CheckID(userID); msg != "" {
		p.Add("user_id", msg)
	}
	q.Page, q.Size = parsePaging(vals, p)
	given = url.Values{}
	if v, ok := vals["client_id"]; ok {
		if msg := sessions.CheckID(v[0]); msg != "" {
			p.Add("client_id", msg)
		}
		q.ClientID = v[0]
		given["client_id"] = v
	}
	if v, ok := vals["sort"]; ok {
		field, order, ok := strings.Cut(v[0], ":")
		if !ok {
			p.Add("sort", "must have the form field:order, e.g. initiated_at:-1")
		} else {
			if q.Sort = sessions.SortField(field); !q.Sort.Valid() {
				p.Add("sort", "field must be one of session_id, initiated_at, expires_at, last_updated")
			}
			switch order {
			case "1":
				q.Desc = false
			case "-1":
				q.Desc = true
			default:
				p.Add("sort", "order must be 1 (ascending) or -1 (descending)")
			}
		}
		given["sort"] = v
	}
	if v, ok := vals["status"]; ok {
		if q.Status = sessions.Status(v[0]); !q.Status.Valid() {
			p.Add("status", "must be active or ended")
		}
		given["status"] = v
	}
	return q, given, p.Err()
}

// appendPagination appends the X-Pagination header value, with exactly the
// seed's members in the seed's order.
func appendPagination(b []byte, size, page, total int, hasNext bool) []byte {
	b = append(b, `{"page_size":`...)
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, `,"current_page":`...)
	b = strconv.AppendInt(b, int64(page), 10)
	b = append(b, `,"total_count":`...)
	b = strconv.AppendInt(b, int64(total), 10)
	b = append(b, `,"has_previous":`...)
	b = strconv.AppendBool(b, page > 1)
	b = append(b, `,"has_next":`...)
	b = strconv.AppendBool(b, hasNext)
	return append(b, '}')
}

// linkHeader returns an RFC 8288 Link header with the first, prev, next and
// last pages, as URLs relative to the host that keep the client's size,
// client_id, sort and status.
func linkHeader(path string, size, page, last int, given url.Values) string {
	var extra strings.Builder
	extra.WriteString("&size=")
	extra.WriteString(strconv.Itoa(size))
	for _, name := range [...]string{"client_id", "sort", "status"} {
		if v, ok := given[name]; ok {
			extra.WriteString("&" + name + "=")
			extra.WriteString(url.QueryEscape(v[0]))
		}
	}
	var b strings.Builder
	link := func(n int, rel string) {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString("<" + path + "?page=" + strconv.Itoa(n))
		b.WriteString(extra.String())
		b.WriteString(`>; rel="` + rel + `"`)
	}
	link(1, "first")
	if page > 1 {
		link(page-1, "prev")
	}
	if page < last {
		link(page+1, "next")
	}
	link(last, "last")
	return b.String()
}

// handleSessionGet serves GET /api/users/{user_id}/sessions/{session_id}.
func handleSessionGet(svc *sessions.Service) keyFunc {
	return func(w http.ResponseWriter, r *http.Request, key *sessions.APIKey) error {
		s, err := svc.Get(r.Context(), key.TenantID, r.PathValue("user_id"), r.PathValue("session_id"))
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, sessionJSON{s})
	}
}

// handleSessionRevoke serves DELETE /api/users/{user_id}/sessions/{session_id}.
// The session ends as "revoked", by the request's key.
func handleSessionRevoke(svc *sessions.Service) keyFunc {
	return func(w http.ResponseWriter, r *http.Request, key *sessions.APIKey) error {
		if err := svc.Revoke(r.Context(), key.TenantID, r.PathValue("user_id"), r.PathValue("session_id"), key.ID); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// handleSessionsRevokeAll serves DELETE /api/users/{user_id}/sessions:
// "sign out everywhere", or with ?except={session_id} "sign out everywhere
// else". The sessions end as "revoked_all", by the request's key.
func handleSessionsRevokeAll(svc *sessions.Service) keyFunc {
	return func(w http.ResponseWriter, r *http.Request, key *sessions.APIKey) error {
		vals, err := parseQuery(r.URL.RawQuery, "except")
		if err != nil {
			return err
		}
		userID, except := r.PathValue("user_id"), ""
		if v, ok := vals["except"]; ok {
			if v[0] == "" {
				// Given but empty is invalid, not "no exception": the
				// service cannot tell the two apart.
				p := sessions.Problems{}
				if msg := sessions.CheckID(userID); msg != "" {
					p.Add("user_id", msg)
				}
				p.Add("except", sessions.CheckSessionID(""))
				return p.Err()
			}
			except = v[0]
		}
		if _, err := svc.RevokeAll(r.Context(), key.TenantID, userID, except, key.ID); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

// handleSessionStart serves POST /api/users/{user_id}/sessions: it starts a
// session and shows its token, the only time the token is ever shown.
func handleSessionStart(svc *sessions.Service) keyFunc {
	type request struct {
		ClientID  string `json:"client_id"`
		IPAddress string `json:"ip_address"`
		UserAgent string `json:"user_agent"`
	}
	return func(w http.ResponseWriter, r *http.Request, key *sessions.APIKey) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		userID := r.PathValue("user_id")
		s, token, err := svc.Start(r.Context(), key.TenantID, userID, sessions.Activity{
			ClientID:  req.ClientID,
			IPAddress: req.IPAddress,
			UserAgent: req.UserAgent,
		})
		if err != nil {
			return err
		}
		w.Header().Set("Location", "/api/users/"+url.PathEscape(s.UserID)+"/sessions/"+s.ID)
		w.Header().Set("Cache-Control", "no-store") // the body holds a secret
		return encode(w, http.StatusCreated, userSessionJSON{s: s, token: token})
	}
}

// handleSessionValidate serves POST /api/sessions/validate: it returns the
// session of an active token and records the activity. Fields the request
// omits keep their last known values.
func handleSessionValidate(svc *sessions.Service) keyFunc {
	type request struct {
		SessionToken string `json:"session_token"`
		ClientID     string `json:"client_id"`
		IPAddress    string `json:"ip_address"`
		UserAgent    string `json:"user_agent"`
	}
	return func(w http.ResponseWriter, r *http.Request, key *sessions.APIKey) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		s, err := svc.Validate(r.Context(), key.TenantID, req.SessionToken, sessions.Activity{
			ClientID:  req.ClientID,
			IPAddress: req.IPAddress,
			UserAgent: req.UserAgent,
		})
		if err != nil {
			return err
		}
		return encode(w, http.StatusOK, userSessionJSON{s: s})
	}
}

// handleSessionSignOut serves POST /api/sessions/revoke: sign-out by token,
// idempotent for sessions that already ended. The session ends as
// "signed_out", by the request's key.
func handleSessionSignOut(svc *sessions.Service) keyFunc {
	type request struct {
		SessionToken string `json:"session_token"`
	}
	return func(w http.ResponseWriter, r *http.Request, key *sessions.APIKey) error {
		req, err := decode[request](w, r)
		if err != nil {
			return err
		}
		if err := svc.SignOut(r.Context(), key.TenantID, req.SessionToken, key.ID); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}
