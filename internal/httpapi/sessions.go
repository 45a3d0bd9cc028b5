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

// exceptParam is the query parameter of the revoke-all endpoint.
var exceptParam = [...]string{"except"}

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
		list, err := fetchPage(w, r, q.Page, q.Size, &given, func(page int) ([]*sessions.Session, int, error) {
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
// query parameters the links keep besides page and size (nil: none). A
// page too large to have an offset is past the end of any list: fetch then
// reads page 1 only to learn the total, and the page is empty.
func fetchPage[T any](w http.ResponseWriter, r *http.Request, page, size int, given *queryValues, fetch func(page int) ([]T, int, error)) ([]T, error) {
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
	// Both values in one allocation.
	var buf [512]byte
	b := appendPagination(buf[:0], size, page, total, page < last)
	n := len(b)
	both := string(appendLinkHeader(b, pathOf(w, r), size, page, last, given))
	setHeader(w, "X-Pagination", both[:n])
	setHeader(w, "Link", both[n:])
	return items, nil
}

// maxQueryNames is the most query parameters an endpoint reads.
const maxQueryNames = 5

// queryValues holds the query parameters an endpoint reads, each given at
// most once (see parseQuery).
type queryValues struct {
	names []string
	vals  [maxQueryNames]string
	given [maxQueryNames]bool
}

// get returns the value of the parameter name and whether it was given.
func (q *queryValues) get(name string) (string, bool) {
	for i, n := range q.names {
		if n == name {
			return q.vals[i], q.given[i]
		}
	}
	return "", false
}

// parseQuery parses a query string, keeping the parameters in names (at
// most maxQueryNames). A query string that cannot be parsed (as
// url.ParseQuery judges it), or one of names given more than once, is
// 400; other parameters are not looked at, so unknown ones are ignored.
func parseQuery(rawQuery string, names ...string) (queryValues, error) {
	q := queryValues{names: names[:min(len(names), maxQueryNames)]}
	var count [maxQueryNames]int
	malformed := false
	// The loop is url.ParseQuery's, without building url.Values.
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		if strings.Contains(pair, ";") {
			malformed = true
			continue
		}
		if pair == "" {
			continue
		}
		key, value, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(key)
		if err != nil {
			malformed = true
			continue
		}
		value, err = url.QueryUnescape(value)
		if err != nil {
			malformed = true
			continue
		}
		for i, n := range q.names {
			if n == key {
				if count[i] == 0 {
					q.vals[i], q.given[i] = value, true
				}
				count[i]++
				break
			}
		}
	}
	if malformed {
		return q, badRequest("the query string is malformed")
	}
	for i, n := range q.names {
		if count[i] > 1 {
			return q, badRequest("the query parameter " + n + " is given more than once")
		}
	}
	return q, nil
}

// problems collects invalid values for one 422, allocating nothing until
// there is one.
type problems struct{ p sessions.Problems }

func (x *problems) add(field, msg string) {
	if x.p == nil {
		x.p = sessions.Problems{}
	}
	x.p.Add(field, msg)
}

// err returns nil if nothing was added, else the EINVALID error.
func (x *problems) err() error {
	if x.p == nil {
		return nil
	}
	return x.p.Err()
}

// parsePaging reads the page (default 1) and size (default
// sessions.DefaultPageSize) parameters of vals, adding an invalid one to p.
func parsePaging(vals *queryValues, p *problems) (page, size int) {
	page, size = 1, sessions.DefaultPageSize
	if v, ok := vals.get("page"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			p.add("page", "must be an integer >= 1")
		}
		page = n
	}
	if v, ok := vals.get("size"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > sessions.MaxPageSize {
			p.add("size", "must be an integer from 1 to 100")
		}
		size = n
	}
	return page, size
}

// parseListQuery reads the list endpoint's query string. A query string that
// cannot be parsed, or a known parameter given twice, is 400; invalid values
// are one 422 that names every one of them. vals holds the parameters,
// among them the client_id, sort and status for the Link header.
func parseListQuery(userID, rawQuery string) (q sessions.ListQuery, vals queryValues, err error) {
	vals, err = parseQuery(rawQuery, listParams[:]...)
	if err != nil {
		return q, vals, err
	}
	q = sessions.ListQuery{
		UserID: userID,
		Sort:   sessions.SortInitiatedAt,
		Desc:   true,
	}
	var p problems
	if msg := sessions.CheckID(userID); msg != "" {
		p.add("user_id", msg)
	}
	q.Page, q.Size = parsePaging(&vals, &p)
	if v, ok := vals.get("client_id"); ok {
		if msg := sessions.CheckID(v); msg != "" {
			p.add("client_id", msg)
		}
		q.ClientID = v
	}
	if v, ok := vals.get("sort"); ok {
		field, order, ok := strings.Cut(v, ":")
		if !ok {
			p.add("sort", "must have the form field:order, e.g. initiated_at:-1")
		} else {
			if q.Sort = sessions.SortField(field); !q.Sort.Valid() {
				p.add("sort", "field must be one of session_id, initiated_at, expires_at, last_updated")
			}
			switch order {
			case "1":
				q.Desc = false
			case "-1":
				q.Desc = true
			default:
				p.add("sort", "order must be 1 (ascending) or -1 (descending)")
			}
		}
	}
	if v, ok := vals.get("status"); ok {
		if q.Status = sessions.Status(v); !q.Status.Valid() {
			p.add("status", "must be active or ended")
		}
	}
	return q, vals, p.err()
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

// linkParams are the query parameters that the Link header's URLs keep
// besides page and size, in their order there.
var linkParams = [...]string{"client_id", "sort", "status"}

// appendLinkHeader appends an RFC 8288 Link header with the first, prev,
// next and last pages, as URLs relative to the host that keep the client's
// size, client_id, sort and status.
func appendLinkHeader(b []byte, path string, size, page, last int, given *queryValues) []byte {
	start := len(b)
	link := func(b []byte, n int, rel string) []byte {
		if len(b) > start {
			b = append(b, ", "...)
		}
		b = append(b, '<')
		b = append(b, path...)
		b = append(b, "?page="...)
		b = strconv.AppendInt(b, int64(n), 10)
		b = append(b, "&size="...)
		b = strconv.AppendInt(b, int64(size), 10)
		if given != nil {
			for _, name := range linkParams {
				if v, ok := given.get(name); ok {
					b = append(b, '&')
					b = append(b, name...)
					b = append(b, '=')
					b = appendQueryEscape(b, v)
				}
			}
		}
		b = append(b, `>; rel="`...)
		b = append(b, rel...)
		return append(b, '"')
	}
	b = link(b, 1, "first")
	if page > 1 {
		b = link(b, page-1, "prev")
	}
	if page < last {
		b = link(b, page+1, "next")
	}
	return link(b, last, "last")
}

// appendQueryEscape appends url.QueryEscape(s).
func appendQueryEscape(b []byte, s string) []byte {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case alnum(c) || c == '-' || c == '_' || c == '.' || c == '~':
			b = append(b, c)
		case c == ' ':
			b = append(b, '+')
		default:
			b = append(b, '%', hex[c>>4], hex[c&0xF])
		}
	}
	return b
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
		vals, err := parseQuery(r.URL.RawQuery, exceptParam[:]...)
		if err != nil {
			return err
		}
		userID, except := r.PathValue("user_id"), ""
		if v, ok := vals.get("except"); ok {
			if v == "" {
				// Given but empty is invalid, not "no exception": the
				// service cannot tell the two apart.
				p := sessions.Problems{}
				if msg := sessions.CheckID(userID); msg != "" {
					p.Add("user_id", msg)
				}
				p.Add("except", sessions.CheckSessionID(""))
				return p.Err()
			}
			except = v
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
	flat := &flatBody[request]{
		names: []string{"client_id", "ip_address", "user_agent"},
		build: func(v [maxFlatMembers]string) request { return request{v[0], v[1], v[2]} },
	}
	return func(w http.ResponseWriter, r *http.Request, key *sessions.APIKey) error {
		req, err := decode(w, r, flat)
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
		setHeader(w, "Location", "/api/users/"+url.PathEscape(s.UserID)+"/sessions/"+s.ID)
		setHeader(w, "Cache-Control", "no-store") // the body holds a secret
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
	flat := &flatBody[request]{
		names: []string{"session_token", "client_id", "ip_address", "user_agent"},
		build: func(v [maxFlatMembers]string) request { return request{v[0], v[1], v[2], v[3]} },
	}
	return func(w http.ResponseWriter, r *http.Request, key *sessions.APIKey) error {
		req, err := decode(w, r, flat)
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
	flat := &flatBody[request]{
		names: []string{"session_token"},
		build: func(v [maxFlatMembers]string) request { return request{v[0]} },
	}
	return func(w http.ResponseWriter, r *http.Request, key *sessions.APIKey) error {
		req, err := decode(w, r, flat)
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
