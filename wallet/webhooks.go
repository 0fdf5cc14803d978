package wallet

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Webhooks push a wallet's events to an HTTP(S) endpoint.
//
// Events are derived from the wallet's stored transactions, which the
// service keeps up to date (Refresh / Track record incoming payments and
// confirmations; the send path records sent and failed transactions):
//
//   - received: a payment to the wallet was first seen (mempool or block);
//   - confirmed: a transaction of the wallet (received or sent) reached
//     the webhook's Confirmations (1..MaxWebhookConfirmations);
//   - sent: a transaction of the wallet was accepted by the node;
//   - failed: a transaction of the wallet failed (refused, expired).
//
// Each (webhook, event, transaction) is put once into an outbox table in
// the wallet database, in the pass that notices it, and delivered by
// [Service.RunWebhooks] at least once: a delivery that does not get a 2xx
// answer is retried with exponential backoff (WebhookConfig.InitialBackoff
// doubling up to MaxBackoff, at most MaxAttempts attempts, then it is
// marked dead). The outbox survives restarts and is shared by every
// service instance on the same database (a delivery is claimed by one
// instance for a lease before it is sent). A webhook sees what changes
// after its creation: a payment first seen earlier gets no received event,
// but a confirmation recorded later is sent.
//
// Every attempt of a delivery carries the same body and the same
// Vhsm-Delivery-Id (also sent as Idempotency-Key): receivers deduplicate
// on it. Vhsm-Signature is "v1=" + hex HMAC-SHA256(secret, timestamp +
// "." + body) with the timestamp (unix seconds) of the attempt in
// Vhsm-Timestamp; receivers recompute it with the webhook's secret,
// compare in constant time and refuse old timestamps.
//
// The secret ("whsec_" + 43 base64url characters, 256 bits) is returned
// once, by CreateWebhook. It is stored sealed with the HSM's metadata key
// (like labels and notes, bound to the webhook's row), so the database
// alone cannot forge deliveries; it is never logged.
//
// SSRF: creating a webhook is an admin operation (the API requires the
// admin scope), the URL must be http or https without credentials, the
// delivery client follows no redirect and uses no proxy, and, unless
// WebhookConfig.AllowPrivate is set, refuses at connection time any
// address that is not public unicast (loopback, RFC 1918/4193 private,
// link-local — cloud metadata at 169.254.169.254 —, CGNAT, unspecified,
// multicast), which a host name resolving (or rebinding) to such an
// address cannot bypass.

// Webhook events.
const (
	EventReceived  = "received"
	EventConfirmed = "confirmed"
	EventSent      = "sent"
	EventFailed    = "failed"
)

// Webhook limits and defaults.
const (
	MaxWebhookURLLen        = 2048
	MaxWebhookConfirmations = 6 // Refresh follows confirmations up to 6
	MaxWebhooksPerWallet    = 20
	DefaultWebhookInterval  = 2 * time.Second
	DefaultWebhookBackoff   = 10 * time.Second
	DefaultWebhookMaxWait   = time.Hour
	DefaultWebhookAttempts  = 12
	DefaultWebhookTimeout   = 10 * time.Second
	webhookScanMargin       = 5 * time.Minute // rows updated by transactions still committing
	webhookLease            = 2 * time.Minute // a claimed delivery is left alone this long
	webhookBatch            = 64
	webhookParallel         = 4
)

// Delivery states.
const (
	deliveryPending   = "pending"
	deliveryDelivered = "delivered"
	deliveryDead      = "dead"
)

var webhookEvents = []string{EventReceived, EventConfirmed, EventSent, EventFailed}

// WebhookConfig tunes webhook delivery ([Config].Webhooks). The zero value
// is the default.
type WebhookConfig struct {
	// AllowPrivate lets deliveries connect to loopback and private
	// addresses (tests, single-host setups); see the SSRF note above.
	AllowPrivate bool
	// Interval between outbox passes (default 2 s).
	Interval time.Duration
	// InitialBackoff after the first failed attempt (default 10 s); it
	// doubles after each failure up to MaxBackoff (default 1 h).
	InitialBackoff, MaxBackoff time.Duration
	// MaxAttempts bounds the attempts of one delivery (default 12).
	MaxAttempts int
	// Timeout of one attempt (default 10 s).
	Timeout time.Duration
}

func (c WebhookConfig) withDefaults() WebhookConfig {
	if c.Interval <= 0 {
		c.Interval = DefaultWebhookInterval
	}
	if c.InitialBackoff <= 0 {
		c.InitialBackoff = DefaultWebhookBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultWebhookMaxWait
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultWebhookAttempts
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultWebhookTimeout
	}
	return c
}

// Webhook is a subscription of a URL to a wallet's events.
type Webhook struct {
	ID            string    `json:"id"` // "wh_" + 16 hex characters
	WalletID      string    `json:"wallet_id"`
	URL           string    `json:"url"`
	Events        []string  `json:"events"`
	Confirmations int       `json:"confirmations"` // for "confirmed"
	CreatedAt     time.Time `json:"created_at"`
	// Secret signs the deliveries; only CreateWebhook returns it.
	Secret string `json:"secret,omitempty"`
}

// CreateWebhookRequest subscribes URL to events of a wallet.
type CreateWebhookRequest struct {
	WalletID      string   `json:"wallet_id"`
	URL           string   `json:"url"`
	Events        []string `json:"events"`                  // received, confirmed, sent, failed
	Confirmations int      `json:"confirmations,omitempty"` // for confirmed: 1..6, default 1
}

// WebhookEvent is the JSON body of a delivery.
type WebhookEvent struct {
	ID          string      `json:"id"` // the delivery (idempotency) id, "whd_…"; the same on every attempt
	Event       string      `json:"event"`
	WebhookID   string      `json:"webhook_id"`
	WalletID    string      `json:"wallet_id"`
	CreatedAt   time.Time   `json:"created_at"`
	Transaction Transaction `json:"transaction"` // without note, PSBT or raw transaction
}

// Delivery headers.
const (
	HeaderWebhookID  = "Vhsm-Webhook-Id"
	HeaderDeliveryID = "Vhsm-Delivery-Id"
	HeaderEvent      = "Vhsm-Event"
	HeaderTimestamp  = "Vhsm-Timestamp"
	HeaderSignature  = "Vhsm-Signature"
)

// SignWebhook returns the Vhsm-Signature value of body sent at timestamp
// (unix seconds) with secret: "v1=" + hex HMAC-SHA256(secret, timestamp
// "." body).
func SignWebhook(secret string, timestamp int64, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(timestamp, 10)))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhook checks a delivery's signature header in constant time and
// that its timestamp is within tolerance of now. It is what a receiver
// runs (documented in the README; used by the tests).
func VerifyWebhook(secret, timestampHeader, signatureHeader string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, err := strconv.ParseInt(timestampHeader, 10, 64)
	if err != nil {
		return errors.New("webhook: bad timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return errors.New("webhook: timestamp outside tolerance")
	}
	want := SignWebhook(secret, ts, body)
	if !hmac.Equal([]byte(want), []byte(signatureHeader)) {
		return errors.New("webhook: signature mismatch")
	}
	return nil
}

// checkWebhookURL validates a delivery URL.
func (s *Service) checkWebhookURL(raw string) (string, error) {
	if raw == "" || len(raw) > MaxWebhookURLLen {
		return "", fmt.Errorf("%w: url is required (at most %d characters)", ErrInvalid, MaxWebhookURLLen)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return "", fmt.Errorf("%w: url is not an absolute http(s) URL", ErrInvalid)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("%w: url scheme must be http or https", ErrInvalid)
	}
	if u.User != nil {
		return "", fmt.Errorf("%w: url must not carry credentials (the delivery is signed instead)", ErrInvalid)
	}
	if u.Fragment != "" || u.Hostname() == "" {
		return "", fmt.Errorf("%w: url needs a host and no fragment", ErrInvalid)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("%w: url port out of range", ErrInvalid)
		}
	}
	for _, r := range raw {
		if r <= ' ' || r == 0x7f {
			return "", fmt.Errorf("%w: url contains a space or control character", ErrInvalid)
		}
	}
	if !s.cfg.Webhooks.AllowPrivate {
		if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil && !publicAddr(a) {
			return "", fmt.Errorf("%w: url points to a non-public address (loopback, private, link-local); deliveries there are refused", ErrInvalid)
		}
		if h := strings.TrimSuffix(strings.ToLower(u.Hostname()), "."); h == "localhost" || strings.HasSuffix(h, ".localhost") {
			return "", fmt.Errorf("%w: url points to localhost; deliveries there are refused", ErrInvalid)
		}
	}
	return u.String(), nil
}

var cgnat = netip.MustParsePrefix("100.64.0.0/10")

// publicAddr reports whether a is a public unicast address.
func publicAddr(a netip.Addr) bool {
	a = a.Unmap()
	return a.IsValid() && a.IsGlobalUnicast() && !a.IsPrivate() && !a.IsLoopback() && !a.IsLinkLocalUnicast() &&
		!a.IsUnspecified() && !a.IsMulticast() && !cgnat.Contains(a)
}

// CreateWebhook subscribes a URL to events of a Bitcoin wallet and returns
// it with its secret (shown once).
func (s *Service) CreateWebhook(ctx context.Context, req CreateWebhookRequest) (*Webhook, error) {
	if _, err := s.btc(ctx, req.WalletID); err != nil {
		return nil, err
	}
	u, err := s.checkWebhookURL(req.URL)
	if err != nil {
		return nil, err
	}
	if len(req.Events) == 0 || len(req.Events) > len(webhookEvents) {
		return nil, fmt.Errorf("%w: events must list some of received, confirmed, sent, failed", ErrInvalid)
	}
	var evs []string
	for _, e := range req.Events {
		if !slices.Contains(webhookEvents, e) {
			return nil, fmt.Errorf("%w: unknown event %q (received, confirmed, sent, failed)", ErrInvalid, truncate(e, 20))
		}
		if slices.Contains(evs, e) {
			return nil, fmt.Errorf("%w: event %q listed twice", ErrInvalid, e)
		}
		evs = append(evs, e)
	}
	conf := req.Confirmations
	if conf == 0 {
		conf = 1
	}
	if conf < 1 || conf > MaxWebhookConfirmations {
		return nil, fmt.Errorf("%w: confirmations must be between 1 and %d", ErrInvalid, MaxWebhookConfirmations)
	}
	var n int
	if err := s.st.q().row(ctx, `SELECT COUNT(*) FROM webhooks WHERE wallet_id = ?`, req.WalletID).Scan(&n); err != nil {
		return nil, s.dbErr("count webhooks", err)
	}
	if n >= MaxWebhooksPerWallet {
		return nil, fmt.Errorf("%w: a wallet has at most %d webhooks", ErrConflict, MaxWebhooksPerWallet)
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("%w: random secret", ErrUnavailable)
	}
	secret := "whsec_" + base64.RawURLEncoding.EncodeToString(b)
	id := newID("wh_", 8)
	sealed, err := s.sealMeta(ctx, "webhooks", id, "secret", secret)
	if err != nil {
		return nil, err
	}
	now := s.nowNano()
	evJSON, _ := json.Marshal(evs)
	if _, err := s.st.q().exec(ctx, `INSERT INTO webhooks (id, wallet_id, url, events, confirmations, secret, scanned_to, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		id, req.WalletID, u, string(evJSON), conf, sealed, now, now); err != nil {
		return nil, s.dbErr("store webhook", err)
	}
	s.log.Info("webhook_created", "webhook_id", id, "wallet_id", req.WalletID, "events", strings.Join(evs, ","))
	return &Webhook{ID: id, WalletID: req.WalletID, URL: u, Events: evs, Confirmations: conf, CreatedAt: fromNano(now), Secret: secret}, nil
}

// webhookRow is a stored webhook with its sealed secret.
type webhookRow struct {
	Webhook
	sealed    string
	scannedTo int64
}

const webhookCols = `id, wallet_id, url, events, confirmations, secret, scanned_to, created_at`

func scanWebhook(sc interface{ Scan(...any) error }) (*webhookRow, error) {
	var r webhookRow
	var evs string
	var created int64
	if err := sc.Scan(&r.ID, &r.WalletID, &r.URL, &evs, &r.Confirmations, &r.sealed, &r.scannedTo, &created); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(evs), &r.Events); err != nil {
		return nil, fmt.Errorf("stored events: %w", err)
	}
	r.CreatedAt = fromNano(created)
	return &r, nil
}

func (s *Service) webhookRows(ctx context.Context, walletID string) ([]*webhookRow, error) {
	q, args := `SELECT `+webhookCols+` FROM webhooks ORDER BY created_at, id`, []any{}
	if walletID != "" {
		q, args = `SELECT `+webhookCols+` FROM webhooks WHERE wallet_id = ? ORDER BY created_at, id`, []any{walletID}
	}
	rows, err := s.st.q().query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*webhookRow
	for rows.Next() {
		r, err := scanWebhook(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ListWebhooks returns the webhooks (of one wallet if walletID is not
// empty), without secrets.
func (s *Service) ListWebhooks(ctx context.Context, walletID string) ([]Webhook, error) {
	if walletID != "" {
		if _, err := s.walletRow(ctx, walletID); err != nil {
			return nil, err
		}
	}
	rs, err := s.webhookRows(ctx, walletID)
	if err != nil {
		return nil, s.dbErr("list webhooks", err)
	}
	out := make([]Webhook, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Webhook)
	}
	return out, nil
}

// GetWebhook returns one webhook, without its secret.
func (s *Service) GetWebhook(ctx context.Context, id string) (*Webhook, error) {
	if err := checkID("webhook", "wh_", id, 16); err != nil {
		return nil, err
	}
	r, err := scanWebhook(s.st.q().row(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: no webhook %q", ErrNotFound, id)
	}
	if err != nil {
		return nil, s.dbErr("read webhook", err)
	}
	return &r.Webhook, nil
}

// DeleteWebhook removes a webhook and its undelivered deliveries.
func (s *Service) DeleteWebhook(ctx context.Context, id string) error {
	if err := checkID("webhook", "wh_", id, 16); err != nil {
		return err
	}
	errGone := errors.New("gone")
	err := s.st.inTx(ctx, func(tx dbq) error {
		res, err := tx.exec(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return errGone
		}
		_, err = tx.exec(ctx, `DELETE FROM webhook_deliveries WHERE webhook_id = ?`, id)
		return err
	})
	if errors.Is(err, errGone) {
		return fmt.Errorf("%w: no webhook %q", ErrNotFound, id)
	}
	if err != nil {
		return s.dbErr("delete webhook", err)
	}
	s.log.Info("webhook_deleted", "webhook_id", id)
	return nil
}

// RunWebhooks delivers webhook events until ctx ends: every
// WebhookConfig.Interval it puts new events into the outbox and sends the
// deliveries that are due. Failures are logged (without URL secrets or
// response bodies) and retried later.
func (s *Service) RunWebhooks(ctx context.Context) {
	cfg := s.cfg.Webhooks.withDefaults()
	client := s.webhookClient(cfg)
	t := time.NewTicker(cfg.Interval)
	defer t.Stop()
	for {
		if err := s.webhookPass(ctx, cfg, client); err != nil && ctx.Err() == nil {
			s.log.Warn("webhook_pass_failed", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// webhookClient is the delivery HTTP client: no proxy, no redirect, a
// per-attempt timeout and, unless AllowPrivate, a dialer that refuses
// non-public addresses after name resolution.
func (s *Service) webhookClient(cfg WebhookConfig) *http.Client {
	d := &net.Dialer{Timeout: cfg.Timeout}
	if !cfg.AllowPrivate {
		d.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || !publicAddr(ap.Addr()) {
				return errRefusedAddr
			}
			return nil
		}
	}
	tr := &http.Transport{Proxy: nil, DialContext: d.DialContext, TLSHandshakeTimeout: cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second}
	return &http.Client{Transport: tr, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

var errRefusedAddr = errors.New("non-public address refused")

// webhookPass enqueues new events and delivers due ones.
func (s *Service) webhookPass(ctx context.Context, cfg WebhookConfig, client *http.Client) error {
	err1 := s.enqueueWebhookEvents(ctx)
	err2 := s.deliverDue(ctx, cfg, client)
	return errors.Join(err1, err2)
}

// enqueueWebhookEvents puts into the outbox, once per (webhook, event,
// transaction), the events of transactions updated since the webhook's
// last scan (less a margin for transactions committing meanwhile).
func (s *Service) enqueueWebhookEvents(ctx context.Context) error {
	hooks, err := s.webhookRows(ctx, "")
	if err != nil {
		return s.dbErr("list webhooks", err)
	}
	for _, h := range hooks {
		now := s.nowNano()
		from := max(h.CreatedAt.UnixNano(), h.scannedTo-int64(webhookScanMargin))
		rs, err := s.queryTxRows(ctx, "scan transactions", `SELECT `+txCols+` FROM transactions WHERE wallet_id = ? AND updated_at >= ? ORDER BY updated_at, id`, h.WalletID, from)
		if err != nil {
			return err
		}
		for _, r := range rs {
			for _, ev := range eventsOf(h, r) {
				if err := s.enqueue(ctx, h, ev, r); err != nil {
					return err
				}
			}
		}
		if _, err := s.st.q().exec(ctx, `UPDATE webhooks SET scanned_to = ? WHERE id = ? AND scanned_to < ?`, now, h.ID, now); err != nil {
			return s.dbErr("update webhook", err)
		}
	}
	return nil
}

// eventsOf lists the events h subscribes to that transaction r is in.
func eventsOf(h *webhookRow, r *txRow) []string {
	var out []string
	want := func(e string) bool { return slices.Contains(h.Events, e) }
	t := &r.t
	if r.origin == originIncoming {
		if want(EventReceived) && t.CreatedAt.UnixNano() >= h.CreatedAt.UnixNano() && t.Status != StatusFailed {
			out = append(out, EventReceived)
		}
	} else {
		if want(EventSent) && (t.Status == StatusBroadcast || t.Status == StatusConfirmed || t.Status == StatusReplaced) {
			out = append(out, EventSent)
		}
		if want(EventFailed) && t.Status == StatusFailed {
			out = append(out, EventFailed)
		}
	}
	if want(EventConfirmed) && t.Status == StatusConfirmed && t.Confirmations >= int64(h.Confirmations) {
		out = append(out, EventConfirmed)
	}
	return out
}

// enqueue inserts a delivery unless (webhook, event, transaction) already
// has one. The body is fixed here, so every attempt sends the same bytes.
func (s *Service) enqueue(ctx context.Context, h *webhookRow, ev string, r *txRow) error {
	id := newID("whd_", 12)
	now := s.nowNano()
	t := r.t
	t.Note, t.PSBT, t.RawTx = "", "", ""
	body, err := json.Marshal(WebhookEvent{ID: id, Event: ev, WebhookID: h.ID, WalletID: h.WalletID, CreatedAt: fromNano(now), Transaction: t})
	if err != nil {
		return fmt.Errorf("%w: encode event: %v", ErrUnavailable, err)
	}
	res, err := s.st.q().exec(ctx, `INSERT INTO webhook_deliveries (id, webhook_id, event_key, event, payload, status, attempts, next_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?) ON CONFLICT (webhook_id, event_key) DO NOTHING`,
		id, h.ID, ev+":"+t.ID, ev, string(body), deliveryPending, now, now, now)
	if err != nil {
		return s.dbErr("enqueue webhook event", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		s.log.Info("webhook_event_queued", "webhook_id", h.ID, "delivery_id", id, "event", ev, "tx_id", t.ID)
	}
	return nil
}

// due is a pending delivery.
type due struct {
	id, webhookID, event, payload string
	attempts                      int
	nextAt                        int64
}

// deliverDue claims and sends the deliveries whose time has come.
func (s *Service) deliverDue(ctx context.Context, cfg WebhookConfig, client *http.Client) error {
	now := s.nowNano()
	rows, err := s.st.q().query(ctx, `SELECT id, webhook_id, event, payload, attempts, next_at FROM webhook_deliveries
		WHERE status = ? AND next_at <= ? ORDER BY next_at, id LIMIT ?`, deliveryPending, now, webhookBatch)
	if err != nil {
		return s.dbErr("read outbox", err)
	}
	var ds []due
	for rows.Next() {
		var d due
		if err := rows.Scan(&d.id, &d.webhookID, &d.event, &d.payload, &d.attempts, &d.nextAt); err != nil {
			rows.Close()
			return s.dbErr("read outbox", err)
		}
		ds = append(ds, d)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return s.dbErr("read outbox", err)
	}
	hooks := map[string]*webhookRow{}
	var wg sync.WaitGroup
	sem := make(chan struct{}, webhookParallel)
	for _, d := range ds {
		// Claim: move next_at past the lease, conditional on the value
		// read, so that one instance sends it.
		res, err := s.st.q().exec(ctx, `UPDATE webhook_deliveries SET next_at = ?, updated_at = ? WHERE id = ? AND status = ? AND next_at = ?`,
			now+int64(webhookLease), now, d.id, deliveryPending, d.nextAt)
		if err != nil {
			return s.dbErr("claim delivery", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			continue
		}
		d.nextAt = now + int64(webhookLease) // the claim
		h, ok := hooks[d.webhookID]
		if !ok {
			h, err = scanWebhook(s.st.q().row(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE id = ?`, d.webhookID))
			if err != nil {
				h = nil // deleted meanwhile: its deliveries went with it
			}
			hooks[d.webhookID] = h
		}
		if h == nil {
			continue
		}
		secret, err := s.openMeta(ctx, "webhooks", h.ID, "secret", h.sealed)
		if err != nil {
			// HSM unavailable: leave it claimed; it is retried after the lease.
			s.log.Warn("webhook_secret_unavailable", "webhook_id", h.ID)
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(d due, url, secret string) {
			defer wg.Done()
			defer func() { <-sem }()
			s.attempt(ctx, cfg, client, d, url, secret)
		}(d, h.URL, secret)
	}
	wg.Wait()
	return nil
}

// attempt sends one delivery and records the outcome: delivered, retried
// later with backoff, or dead after MaxAttempts.
func (s *Service) attempt(ctx context.Context, cfg WebhookConfig, client *http.Client, d due, url, secret string) {
	ts := s.now().Unix()
	body := []byte(d.payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	outcome := ""
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("User-Agent", "vhsm-webhooks/1")
		req.Header.Set(HeaderWebhookID, d.webhookID)
		req.Header.Set(HeaderDeliveryID, d.id)
		req.Header.Set("Idempotency-Key", d.id)
		req.Header.Set(HeaderEvent, d.event)
		req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
		req.Header.Set(HeaderSignature, SignWebhook(secret, ts, body))
		res, err := client.Do(req)
		switch {
		case errors.Is(err, errRefusedAddr):
			outcome = "refused: the URL resolves to a non-public address"
		case err != nil:
			outcome = "connection failed"
			if errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Timeout") {
				outcome = "timed out"
			}
		default:
			io.Copy(io.Discard, io.LimitReader(res.Body, 64<<10))
			res.Body.Close()
			if res.StatusCode < 200 || res.StatusCode > 299 {
				outcome = "HTTP " + strconv.Itoa(res.StatusCode)
			}
		}
	} else {
		outcome = "bad request"
	}
	if ctx.Err() != nil {
		// Shutting down: give the claim back so that the next process (or
		// another instance) sends it at once; the attempt may or may not
		// have reached the receiver, which deduplicates on the delivery id.
		s.st.q().exec(context.WithoutCancel(ctx), `UPDATE webhook_deliveries SET next_at = ? WHERE id = ? AND status = ? AND next_at = ?`,
			s.nowNano(), d.id, deliveryPending, d.nextAt)
		return
	}
	attempts := d.attempts + 1
	now := s.nowNano()
	bg := context.WithoutCancel(ctx)
	if outcome == "" {
		s.st.q().exec(bg, `UPDATE webhook_deliveries SET status = ?, attempts = ?, last_error = '', updated_at = ? WHERE id = ?`,
			deliveryDelivered, attempts, now, d.id)
		s.log.Info("webhook_delivered", "webhook_id", d.webhookID, "delivery_id", d.id, "event", d.event, "attempts", attempts)
		return
	}
	if attempts >= cfg.MaxAttempts {
		s.st.q().exec(bg, `UPDATE webhook_deliveries SET status = ?, attempts = ?, last_error = ?, updated_at = ? WHERE id = ?`,
			deliveryDead, attempts, outcome, now, d.id)
		s.log.Warn("webhook_dead", "webhook_id", d.webhookID, "delivery_id", d.id, "attempts", attempts, "error", outcome)
		return
	}
	wait := backoff(cfg, attempts)
	s.st.q().exec(bg, `UPDATE webhook_deliveries SET attempts = ?, last_error = ?, next_at = ?, updated_at = ? WHERE id = ?`,
		attempts, outcome, now+int64(wait), now, d.id)
	s.log.Info("webhook_retry", "webhook_id", d.webhookID, "delivery_id", d.id, "attempts", attempts, "error", outcome, "retry_in", wait.String())
}

// backoff is the wait after the n-th failed attempt (n ≥ 1):
// InitialBackoff·2^(n−1), at most MaxBackoff.
func backoff(cfg WebhookConfig, n int) time.Duration {
	w := cfg.InitialBackoff
	for i := 1; i < n && w < cfg.MaxBackoff; i++ {
		w *= 2
	}
	return min(w, cfg.MaxBackoff)
}

// WebhookDelivery is an outbox entry's public state.
type WebhookDelivery struct {
	ID        string    `json:"id"`
	Event     string    `json:"event"`
	Status    string    `json:"status"` // pending, delivered, dead
	Attempts  int       `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
	NextAt    time.Time `json:"next_at"`
	CreatedAt time.Time `json:"created_at"`
}

// WebhookDeliveries returns a webhook's latest deliveries (at most 100,
// newest first).
func (s *Service) WebhookDeliveries(ctx context.Context, id string) ([]WebhookDelivery, error) {
	if _, err := s.GetWebhook(ctx, id); err != nil {
		return nil, err
	}
	rows, err := s.st.q().query(ctx, `SELECT id, event, status, attempts, last_error, next_at, created_at FROM webhook_deliveries
		WHERE webhook_id = ? ORDER BY created_at DESC, id DESC LIMIT 100`, id)
	if err != nil {
		return nil, s.dbErr("list deliveries", err)
	}
	defer rows.Close()
	out := []WebhookDelivery{}
	for rows.Next() {
		var d WebhookDelivery
		var next, created int64
		if err := rows.Scan(&d.ID, &d.Event, &d.Status, &d.Attempts, &d.LastError, &next, &created); err != nil {
			return nil, s.dbErr("list deliveries", err)
		}
		d.NextAt, d.CreatedAt = fromNano(next), fromNano(created)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, s.dbErr("list deliveries", err)
	}
	return out, nil
}
