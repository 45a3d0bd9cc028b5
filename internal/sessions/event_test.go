package sessions

import "testing"

func TestParseCursor(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"1", 1, true}, {"9223372036854775807", 9223372036854775807, true},
		{"", 0, false}, {"-1", 0, false}, {"+1", 0, false}, {"1.0", 0, false}, {"abc", 0, false},
		{"9223372036854775808", 0, false}, {"12345678901234567890", 0, false}, {" 1", 0, false},
	} {
		got, ok := ParseCursor(tc.in)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("ParseCursor(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestEventJSON(t *testing.T) {
	s := &Session{TenantID: 1, UserID: "u", ID: "96484D319ACC21380CCE026E54807B4D", ClientIDs: []string{"a", "b"},
		InitiatedAt: 10, ExpiresAt: 20}
	for _, tc := range []struct {
		e    Event
		want string
	}{
		{StartedEvent(s), `{"id":"7","type":"session.started","occurred_at":10,"user_id":"u","session_id":"96484D319ACC21380CCE026E54807B4D","data":{"client_id":"a"}}`},
		{JoinedEvent(s, "b", 12), `{"id":"7","type":"session.client_joined","occurred_at":12,"user_id":"u","session_id":"96484D319ACC21380CCE026E54807B4D","data":{"client_id":"b"}}`},
		{EndedEvent(1, "u", s.ID, ReasonRevokedAll, "key_1", 13), `{"id":"7","type":"session.revoked","occurred_at":13,"user_id":"u","session_id":"96484D319ACC21380CCE026E54807B4D","data":{"reason":"revoked_all","ended_by":"key_1"}}`},
		{EndedEvent(1, "u", s.ID, ReasonSignedOut, "", 14), `{"id":"7","type":"session.signed_out","occurred_at":14,"user_id":"u","session_id":"96484D319ACC21380CCE026E54807B4D","data":{"reason":"signed_out","ended_by":null}}`},
		{ExpiredEvent(s, ReasonExpiredIdle, 30), `{"id":"7","type":"session.expired","occurred_at":30,"user_id":"u","session_id":"96484D319ACC21380CCE026E54807B4D","data":{"reason":"expired_idle","expired_at":20}}`},
		{ErasedEvent(1, "u", nil, 40), `{"id":"7","type":"user.erased","occurred_at":40,"user_id":"u","session_id":null,"data":{"session_ids":[]}}`},
	} {
		tc.e.Seq = 7
		if got := string(tc.e.JSON()); got != tc.want {
			t.Errorf("JSON of %s:\ngot  %s\nwant %s", tc.e.Type, got, tc.want)
		}
		back, err := ParseEventData(tc.e.DataJSON())
		if err != nil {
			t.Fatal(err)
		}
		again := tc.e
		again.Data = back
		if string(again.JSON()) != tc.want {
			t.Errorf("%s: data does not survive ParseEventData: got %s", tc.e.Type, again.JSON())
		}
	}
}

func TestCheckWebhookURL(t *testing.T) {
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"https://gateway.example/hook", true}, {"http://127.0.0.1:8080/x?y=1", true},
		{"", false}, {"ftp://x/", false}, {"https://", false}, {"/relative", false},
		{"https://user:pw@x/", false}, {"https://x/#frag", false}, {"https://x/a b", false},
	} {
		if msg := CheckWebhookURL(tc.url); (msg == "") != tc.ok {
			t.Errorf("CheckWebhookURL(%q) = %q, want ok %v", tc.url, msg, tc.ok)
		}
	}
}
