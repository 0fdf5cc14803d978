package wallet

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestWebhookDialGuard: without AllowPrivate the delivery client refuses
// to connect to loopback, whatever the URL says (a host name that
// resolves there included); with it, it connects.
func TestWebhookDialGuard(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }))
	defer srv.Close()
	s, _ := storeOnly(t)
	cfg := WebhookConfig{Timeout: 5 * time.Second}.withDefaults()
	port := srv.URL[strings.LastIndex(srv.URL, ":"):]
	for _, u := range []string{srv.URL, "http://localhost" + port} {
		res, err := s.webhookClient(cfg).Get(u)
		if err == nil {
			res.Body.Close()
			t.Fatalf("%s: connected to loopback", u)
		}
		if !errors.Is(err, errRefusedAddr) {
			t.Fatalf("%s: %v, want the address refusal", u, err)
		}
	}
	cfg.AllowPrivate = true
	res, err := s.webhookClient(cfg).Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	// Redirects are not followed (a public URL cannot bounce to an internal one).
	red := httptest.NewServer(http.RedirectHandler(srv.URL, http.StatusFound))
	defer red.Close()
	res, err = s.webhookClient(cfg).Get(red.URL)
	if err != nil || res.StatusCode != http.StatusFound {
		t.Fatalf("redirect: %v %v", res, err)
	}
	res.Body.Close()
}

func TestPublicAddr(t *testing.T) {
	for a, want := range map[string]bool{
		"8.8.8.8": true, "2001:4860:4860::8888": true, "127.0.0.1": false, "10.1.2.3": false, "172.16.0.1": false,
		"192.168.1.1": false, "169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false, "::1": false,
		"fd00::1": false, "fe80::1": false, "224.0.0.1": false, "::ffff:127.0.0.1": false, "::ffff:8.8.8.8": true,
	} {
		if got := publicAddr(netip.MustParseAddr(a)); got != want {
			t.Errorf("%s: public %v, want %v", a, got, want)
		}
	}
}

func TestWebhookBackoff(t *testing.T) {
	cfg := WebhookConfig{InitialBackoff: time.Second, MaxBackoff: 10 * time.Second}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	for i, w := range want {
		if got := backoff(cfg, i+1); got != w {
			t.Errorf("attempt %d: %v, want %v", i+1, got, w)
		}
	}
	if got := backoff(cfg, 1000); got != 10*time.Second {
		t.Errorf("attempt 1000: %v", got)
	}
}

// TestWebhookSignature: the signature covers timestamp and body; a replay
// outside the tolerance, a changed body or timestamp, or another secret
// fails.
func TestWebhookSignature(t *testing.T) {
	now := time.Unix(1_765_000_000, 0)
	body := []byte(`{"id":"whd_1","event":"sent"}`)
	sig := SignWebhook("whsec_a", now.Unix(), body)
	// Known answer: HMAC-SHA256("whsec_a", "1765000000." + body).
	if !strings.HasPrefix(sig, "v1=") || len(sig) != 3+64 {
		t.Fatalf("signature %q", sig)
	}
	ts := "1765000000"
	if err := VerifyWebhook("whsec_a", ts, sig, body, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"other secret":    VerifyWebhook("whsec_b", ts, sig, body, now, time.Minute),
		"changed body":    VerifyWebhook("whsec_a", ts, sig, []byte(`{"id":"whd_1","event":"failed"}`), now, time.Minute),
		"changed ts":      VerifyWebhook("whsec_a", "1765000001", sig, body, now, time.Minute),
		"replayed later":  VerifyWebhook("whsec_a", ts, sig, body, now.Add(2*time.Minute), time.Minute),
		"truncated sig":   VerifyWebhook("whsec_a", ts, sig[:40], body, now, time.Minute),
		"bad timestamp":   VerifyWebhook("whsec_a", "x", sig, body, now, time.Minute),
		"truncated body":  VerifyWebhook("whsec_a", ts, sig, body[:10], now, time.Minute),
		"signature empty": VerifyWebhook("whsec_a", ts, "", body, now, time.Minute),
	} {
		if err == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

// TestWebhookDeliveryUnit drives the outbox without a chain: a failing
// endpoint is retried with the same delivery id until MaxAttempts, then
// the delivery is dead; a deleted webhook's deliveries go with it.
func TestWebhookDeliveryUnit(t *testing.T) {
	ctx := context.Background()
	s, clk, wid := pageEnv(t)
	var ids []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ids = append(ids, r.Header.Get(HeaderDeliveryID))
		w.WriteHeader(503)
	}))
	defer srv.Close()
	s.cfg.Webhooks = WebhookConfig{AllowPrivate: true, InitialBackoff: time.Second, MaxBackoff: 4 * time.Second, MaxAttempts: 3}
	// A webhook with no secret sealed: the store-only service has no HSM,
	// so insert the row directly with an empty (unsealed) secret.
	now := clk.t.UnixNano()
	if _, err := s.st.q().exec(ctx, `INSERT INTO webhooks (id, wallet_id, url, events, confirmations, secret, scanned_to, created_at) VALUES (?, ?, ?, ?, 1, '', ?, ?)`,
		"wh_0000000000000001", wid, srv.URL, `["sent","failed"]`, now, now); err != nil {
		t.Fatal(err)
	}
	clk.t = clk.t.Add(time.Second)
	insertTx(t, s, wid, 1, clk.t.UnixNano()) // status broadcast: "sent"
	cfg := s.cfg.Webhooks.withDefaults()
	client := s.webhookClient(cfg)
	for i := 0; i < 10; i++ {
		if err := s.webhookPass(ctx, cfg, client); err != nil {
			t.Fatal(err)
		}
		clk.t = clk.t.Add(5 * time.Second)
	}
	if len(ids) != 3 || ids[0] != ids[1] || ids[1] != ids[2] || !strings.HasPrefix(ids[0], "whd_") {
		t.Fatalf("attempts %v, want 3 with one delivery id", ids)
	}
	ds, err := s.WebhookDeliveries(ctx, "wh_0000000000000001")
	if err != nil || len(ds) != 1 || ds[0].Status != deliveryDead || ds[0].Attempts != 3 || ds[0].LastError != "HTTP 503" {
		t.Fatalf("deliveries: %+v %v", ds, err)
	}
	if err := s.DeleteWebhook(ctx, "wh_0000000000000001"); err != nil {
		t.Fatal(err)
	}
	var n int
	s.st.q().row(ctx, `SELECT COUNT(*) FROM webhook_deliveries`).Scan(&n)
	if n != 0 {
		t.Fatalf("%d deliveries left after delete", n)
	}
}

// FuzzWebhookURL: an accepted URL is http(s), has a host, no credentials,
// no control characters, and with AllowPrivate unset no literal
// non-public address.
func FuzzWebhookURL(f *testing.F) {
	for _, u := range []string{"https://example.com/hook", "http://127.0.0.1:8080/x", "ftp://a", "http://u:p@h/", "http://[::1]/",
		"https://example.com:99999/", "http://0x7f.1/", "https://exa mple.com/", "http://localhost./x"} {
		f.Add(u)
	}
	s := &Service{}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := s.checkWebhookURL(raw)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v is not ErrInvalid", err)
			}
			return
		}
		if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			t.Fatalf("accepted %q", u)
		}
		if again, err := s.checkWebhookURL(u); err != nil || again != u {
			t.Fatalf("normalized %q is refused or changes: %q %v", u, again, err)
		}
	})
}

// TestEventsOf: which events a transaction's state yields for a webhook.
func TestEventsOf(t *testing.T) {
	created := time.Unix(1000, 0)
	all := &webhookRow{Webhook: Webhook{Events: []string{EventReceived, EventConfirmed, EventSent, EventFailed}, Confirmations: 2, CreatedAt: created}}
	row := func(origin, status string, conf int64, at time.Time) *txRow {
		return &txRow{origin: origin, t: Transaction{ID: "tx_1", Status: status, Confirmations: conf, CreatedAt: at}}
	}
	after, before := created.Add(time.Second), created.Add(-time.Second)
	for _, c := range []struct {
		r    *txRow
		want string
	}{
		{row(originIncoming, StatusBroadcast, 0, after), "received"},
		{row(originIncoming, StatusConfirmed, 1, after), "received"},
		{row(originIncoming, StatusConfirmed, 2, after), "received,confirmed"},
		{row(originIncoming, StatusConfirmed, 3, before), "confirmed"}, // seen before the webhook
		{row(originIncoming, StatusFailed, 0, after), ""},
		{row(originSend, StatusBuilt, 0, after), ""},
		{row(originSend, StatusSigned, 0, after), ""},
		{row(originSend, StatusBroadcast, 0, after), "sent"},
		{row(originSend, StatusConfirmed, 6, after), "sent,confirmed"},
		{row(originSend, StatusReplaced, 0, after), "sent"},
		{row(originSend, StatusFailed, 0, after), "failed"},
		{row(originPSBT, StatusFailed, 0, after), "failed"},
	} {
		if got := strings.Join(eventsOf(all, c.r), ","); got != c.want {
			t.Errorf("%s %s conf %d: %q, want %q", c.r.origin, c.r.t.Status, c.r.t.Confirmations, got, c.want)
		}
	}
	only := &webhookRow{Webhook: Webhook{Events: []string{EventSent}, Confirmations: 1, CreatedAt: created}}
	if got := eventsOf(only, row(originSend, StatusConfirmed, 3, after)); len(got) != 1 || got[0] != EventSent {
		t.Errorf("subscribed to sent only: %v", got)
	}
}
