package client

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
)

const (
	// requestValidity is how long a request stays valid after it is made.
	requestValidity = 60 * time.Second
	// maxResponseBytes bounds one replica answer (a key list can be long).
	maxResponseBytes = 16 << 20
)

// Client talks to every replica of one vhsm deployment. It is safe for
// concurrent use.
type Client struct {
	id        string
	cluster   string
	key       ed25519.PrivateKey
	n, t      int
	timeout   time.Duration
	poolWait  time.Duration
	replicas  []*replicaConn // in index order
	rand      io.Reader
	now       func() time.Time
	onCulprit func(op string, culprits []Culprit)

	mu   sync.Mutex
	keys map[string]*keyMaterial // verified public key data, by key id

	minHeight atomic.Int64   // highest height of an ordered result seen (see noteHeight)
	lat       latencies      // recent answer latencies, for the hedge delay
	olat      latencies      // the same for ordered eth2.sign requests sent in batches (a block each)
	klat      latencies      // the same for keys.gen requests sent in batches
	health    health         // replicas that failed recently
	nonces    nonceCache     // FROST nonce commitments handed to this client (frost.go)
	fkeys     sync.Map       // prepared FROST keys, by key id and tweak (frost.go)
	hsync     heightSync     // status-based min height learning (height.go)
	batchers  []*batcher     // per replica, in index order; nil: no batching (batch.go)
	eth2q     orderedBatcher // ordered eth2.sign requests, when batching (batch_eth2.go)
	keyq      orderedBatcher // keys.gen requests, when batching (batch_eth2.go)
	keygens   atomic.Int64   // keys.gen requests on their way (see agreeKey)
	// inflight counts the requests this client has on their way to a
	// replica (sendOut); a signing, encryption or decryption request made
	// while none is goes alone (see newSignedRequest), if it gets the lone
	// token: the time it was taken (Unix ns), 0 when free. batchAlone
	// batches even those (tests of batch.go).
	inflight   atomic.Int64
	loneToken  atomic.Int64
	batchAlone bool
}

// replicaConn is one replica's endpoint with its own pinned HTTPS client.
type replicaConn struct {
	index int
	url   string
	http  *http.Client
	lone  *http.Client // HTTP/1.1, for lone requests (see New)
	// heard is when the replica last answered anything of this client
	// (Unix ns; 0: never): a sign of progress (see hedgeWait).
	heard atomic.Int64
}

// Option customizes a Client.
type Option func(*Client)

// WithRand sets the randomness source for request ids and encryption
// (default crypto/rand).
func WithRand(r io.Reader) Option { return func(c *Client) { c.rand = r } }

// WithClock sets the clock used for request expiry (default time.Now).
func WithClock(now func() time.Time) Option { return func(c *Client) { c.now = now } }

// WithCulpritHandler registers f to be called, synchronously, when an
// operation succeeded although some replicas answered provably wrong (their
// answers were discarded). Failed operations report culprits in their error.
func WithCulpritHandler(f func(op string, culprits []Culprit)) Option {
	return func(c *Client) { c.onCulprit = f }
}

// WithPoolWait sets how long GenerateKey and SignSchnorr keep retrying,
// with backoff, while t+1 replicas refuse the request because a pool of
// pre-generated keys or nonces is empty and being refilled (default: the
// request timeout; zero: never retry). Each retry is a new request. The
// refused one was refused by t+1 replicas, one of them honest, from their
// committed state, but a replica whose pool was already refilled may still
// have had it ordered: a sign then yields a second signature of the same
// message under a fresh nonce (harmless), and a key generation finds its id
// taken, which GenerateKey resolves.
func WithPoolWait(d time.Duration) Option { return func(c *Client) { c.poolWait = max(d, 0) } }

// WithMinHedge sets a lower bound of the hedge delay: how long the client
// waits for the replicas it asked first before asking the others (default:
// the recent p90 latency, at least 2 ms). A higher bound sends fewer
// duplicate requests on a loaded host and costs latency when a replica is
// slow or silent.
func WithMinHedge(d time.Duration) Option {
	return func(c *Client) {
		c.lat.floor.Store(int64(max(d, 0)))
		c.olat.floor.Store(int64(max(d, 0)))
		c.klat.floor.Store(int64(max(d, 0)))
	}
}

// WithBatchingAlways makes the client batch even a request made while no
// other is on its way (a batch of one per replica), which it otherwise
// sends alone, as an ordinary signed request (see newSignedRequest): for
// tests of batches.
func WithBatchingAlways() Option { return func(c *Client) { c.batchAlone = true } }

// WithoutBatching makes the client send every request on its own, signed
// and sealed separately, instead of gathering the signing, encryption and
// decryption requests in flight at one replica into batches (batch.go).
func WithoutBatching() Option { return func(c *Client) { c.batchers = nil } }

// New validates cfg and returns a client. Every replica connection accepts
// exactly the replica's pinned certificate; system roots are never used.
func New(cfg *Config, opts ...Option) (*Client, error) {
	if cfg == nil {
		return nil, fmt.Errorf("%w: nil config", ErrConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Cluster == "" {
		return nil, fmt.Errorf("%w: no cluster id: set \"cluster\" to the replicas' chain id (vhsm testnet and devnet write it)", ErrConfig)
	}
	c := &Client{
		id:       cfg.ClientID,
		cluster:  cfg.Cluster,
		key:      ed25519.NewKeyFromSeed(cfg.PrivateKey),
		n:        cfg.N,
		t:        cfg.T,
		timeout:  cfg.timeout(),
		poolWait: cfg.timeout(),
		rand:     rand.Reader,
		now:      time.Now,
		keys:     make(map[string]*keyMaterial),
	}
	c.replicas = make([]*replicaConn, cfg.N)
	for _, r := range cfg.Replicas {
		c.replicas[r.Index-1] = &replicaConn{
			index: r.Index,
			url:   strings.TrimRight(r.URL, "/"),
			http:  pinnedClient(r.TLSCert, true, 256),
			// Lone requests (newSignedRequest) go over HTTP/1.1 (TLS,
			// keep-alive, the same pin): Go's HTTP/2 costs more CPU per
			// request at both ends (frame-writer and handler goroutines
			// started per request, their stacks grown anew each time),
			// about 1 ms per encryption at 1 client, 4 replicas on 2 cores,
			// and 0.4–0.8 ms of its latency. At most one lone request is on
			// its way at a time, so this needs a connection or two per
			// replica; everything else (batches under load, where HTTP/1.1
			// measured slower) keeps HTTP/2.
			lone: pinnedClient(r.TLSCert, false, 4),
		}
	}
	c.batchers = make([]*batcher, cfg.N)
	for i, rc := range c.replicas {
		c.batchers[i] = &batcher{c: c, rc: rc}
	}
	// Every replica makes a partial signature for an attestation: a batch
	// goes to the 2t+1 whose consistent partials settle it. A key is
	// agreed on by t+1 identical reports.
	// Each has latencies of its own: a key generation waits for its block
	// and, in a burst, for the pool's refill, which must not set when an
	// attestation is late.
	c.eth2q.op, c.eth2q.first, c.eth2q.lat = wire.OpEth2Batch, 2*c.t+1, &c.olat
	c.keyq.op, c.keyq.first, c.keyq.lat = wire.OpKeyGenBatch, c.t+1, &c.klat
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Close releases idle connections.
func (c *Client) Close() error {
	for _, r := range c.replicas {
		r.http.CloseIdleConnections()
		r.lone.CloseIdleConnections()
	}
	return nil
}

// ID returns the client's identifier.
func (c *Client) ID() string { return c.id }

// Threshold returns n and t of the replica set.
func (c *Client) Threshold() (n, t int) { return c.n, c.t }

// pinnedClient is an HTTPS client that accepts exactly the certificate
// der, over HTTP/2 when http2 is set (HTTP/1.1 otherwise), keeping up to
// idle connections.
func pinnedClient(der []byte, http2 bool, idle int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:     pinnedTLS(der),
		ForceAttemptHTTP2:   http2,
		MaxIdleConns:        idle,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 5 * time.Second,
	}}
}

// errPin is returned by the TLS handshake when the server's certificate is
// not the pinned one.
var errPin = errors.New("client: replica certificate does not match the pinned certificate")

// pinnedTLS returns a TLS configuration that accepts exactly the
// certificate der. Chain verification is replaced by the pin: the replica's
// certificate is self-signed and distributed with the configuration.
func pinnedTLS(der []byte) *tls.Config {
	pin := bytes.Clone(der)
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // verification is the exact-certificate pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, pin) {
				return errPin
			}
			return nil
		},
	}
}

// outgoing is a signed request ready to send, with what its answers are
// checked and opened with.
type outgoing struct {
	signed []byte           // JSON wire.SignedRequest
	hash   [32]byte         // wire.RequestHash of the request bytes
	reply  *ecdh.PrivateKey // the request's ephemeral reply key, if it has one
	// item, when set, is the request as a batch item instead (signed is
	// empty): it is sent in a batch to each replica it goes to, and its
	// answers arrive opened (batch.go).
	item *wire.BatchItem
	// ordered, when set, is an ordered eth2.sign sent as an item of an
	// eth2.batch (batch_eth2.go); its answers arrive opened too.
	ordered *orderedItem
	// lone, when not 0, marks a request that took the client's lone token
	// (its value): sent over the replicas' HTTP/1.1 connections, and the
	// token is given back when its first send returns, unless taken anew
	// meanwhile (see newSignedRequest).
	lone int64
}

// newSignedRequest builds, encodes and signs a request for this client's
// cluster. For operations whose answers carry secret-derived material it
// draws a fresh reply key, so that only this client can open the answers
// (a replica replaying the request to others learns nothing).
func (c *Client) newSignedRequest(ctx context.Context, op string, body any) (*outgoing, error) {
	if unordered(op) {
		c.learnHeight(ctx)
	}
	var id [16]byte
	if _, err := io.ReadFull(c.rand, id[:]); err != nil {
		return nil, fmt.Errorf("request id: %w", err)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	// A request made while no other batchable one is on its way goes alone,
	// as an ordinary signed request: one id, signature and reply key for
	// every replica it is sent to, where a batch of one costs one of each
	// per replica (the batch names its replica), on the critical path of
	// the request (1 client, 4 replicas on 2 cores: about 0.5 ms of its
	// 3–5 ms). While others are on their way it joins their batches, whose
	// savings grow with the load.
	// Only one at a time holds the lone token, so that the requests of
	// callers starting together do not all go alone.
	var lone int64
	if c.batchers != nil && wire.Batchable(op) && !c.batchAlone && c.inflight.Load() == 0 {
		lone = c.takeLone()
	}
	if c.batchers != nil && wire.Batchable(op) && lone == 0 {
		if len(b) > maxItemBytes {
			return nil, fmt.Errorf("%w: request body of %d bytes exceeds %d", ErrInvalidArgument, len(b), maxItemBytes)
		}
		return &outgoing{item: &wire.BatchItem{ID: hex.EncodeToString(id[:]), Op: op, Body: b}}, nil
	}
	out := &outgoing{}
	r := wire.Request{
		ID:      hex.EncodeToString(id[:]),
		Client:  c.id,
		Op:      op,
		Expires: c.now().Add(requestValidity).Unix(),
		Cluster: c.cluster,
		Body:    b,
	}
	if unordered(op) {
		// What this client saw committed (a key, a grant, a disable) must
		// be applied by a replica before it answers.
		r.MinHeight = c.minHeight.Load()
	}
	if wire.NeedsReply(op) {
		if out.reply, err = wire.NewReplyKey(c.rand); err != nil {
			return nil, err
		}
		r.Reply = out.reply.PublicKey().Bytes()
	}
	if err := c.sign(r, out); err != nil {
		if lone != 0 {
			c.loneToken.CompareAndSwap(lone, 0)
		}
		return nil, err
	}
	out.lone = lone
	return out, nil
}

// loneHold bounds how long a lone token stays taken if its request is
// never sent (every caller sends what newSignedRequest made, at once).
const loneHold = 5 * time.Second

// takeLone takes the lone token if it is free (or was taken longer than
// loneHold ago) and returns its value, or 0.
func (c *Client) takeLone() int64 {
	now := time.Now().UnixNano()
	held := c.loneToken.Load()
	if held != 0 && now-held < int64(loneHold) || !c.loneToken.CompareAndSwap(held, now) {
		return 0
	}
	return now
}

// sendOut sends out to rc and counts it on its way meanwhile: a lone
// request over rc's HTTP/1.1 connections (giving the lone token back when
// it returns), anything else as send does.
func (c *Client) sendOut(ctx context.Context, rc *replicaConn, out *outgoing) answer {
	c.inflight.Add(1)
	defer c.inflight.Add(-1)
	if out.lone != 0 {
		defer c.loneToken.CompareAndSwap(out.lone, 0)
		return rc.postVia(ctx, rc.lone, out.signed)
	}
	return c.send(ctx, rc, out)
}

// sign encodes and signs r into out (signed and hash).
func (c *Client) sign(r wire.Request, out *outgoing) error {
	req, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	msg := make([]byte, 0, len(wire.RequestContext)+len(req))
	msg = append(msg, wire.RequestContext...)
	msg = append(msg, req...)
	signed, err := json.Marshal(wire.SignedRequest{Request: req, Signature: ed25519.Sign(c.key, msg)})
	if err != nil {
		return fmt.Errorf("encode request: %w", err)
	}
	if len(signed) > wire.MaxRequestBytes {
		return fmt.Errorf("%w: request of %d bytes exceeds %d", ErrInvalidArgument, len(signed), wire.MaxRequestBytes)
	}
	out.signed, out.hash = signed, wire.RequestHash(req)
	return nil
}

// open replaces a successful answer's sealed partial by its plaintext. An
// answer to a request with a reply key must carry its partial sealed, and
// it must open under this request and the answering replica's index;
// anything else is a malformed answer.
func (o *outgoing) open(replica int, resp *wire.Response) bool {
	if o.item != nil || o.ordered != nil {
		// Opened with its batch (batch.go, batch_eth2.go).
		return len(resp.Sealed) == 0
	}
	if o.reply == nil {
		return len(resp.Sealed) == 0
	}
	if len(resp.Partial) != 0 || len(resp.Sealed) == 0 {
		return false
	}
	pt, err := wire.OpenReply(o.reply, o.hash, replica, resp.Sealed)
	if err != nil {
		return false
	}
	resp.Partial, resp.Sealed = pt, nil
	return true
}

// answer is one replica's reply to a request.
type answer struct {
	replica int
	resp    *wire.Response // decoded reply; nil when err is set
	err     error          // transport failure or non-JSON error status
	bad     bool           // the reply is malformed: the replica is a culprit
	took    time.Duration  // from sending to the answer
	// opened, for a successful answer (resp without Error) that went
	// through outgoing.open in the goroutine that received it: whether it
	// opened (see exchangeSettle).
	opened bool
}

// post sends a signed request to one replica.
func (r *replicaConn) post(ctx context.Context, signed []byte) answer {
	return r.postVia(ctx, r.http, signed)
}

// postVia is post over hc.
func (r *replicaConn) postVia(ctx context.Context, hc *http.Client, signed []byte) answer {
	a := answer{replica: r.index}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.url+"/v1/request", bytes.NewReader(signed))
	if err != nil {
		a.err = err
		return a
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		a.err = err
		return a
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		a.err = err
		return a
	}
	r.heard.Store(time.Now().UnixNano())
	return decodeAnswer(r.index, resp.StatusCode, body)
}

// decodeAnswer classifies replica's HTTP answer: a response (success or
// rejection), a failure that proves nothing (an error status without a
// rejection body), or a malformed answer that makes the replica a culprit.
func decodeAnswer(replica, status int, body []byte) answer {
	a := answer{replica: replica}
	var wr wire.Response
	decErr := json.Unmarshal(body, &wr)
	switch {
	case len(body) > maxResponseBytes:
		a.bad = true
	case status == http.StatusOK && decErr != nil:
		a.bad = true
	case status != http.StatusOK && (decErr != nil || wr.Error == ""):
		// An overloaded or failing server is not provably lying.
		a.err = fmt.Errorf("http status %d", status)
	case wr.Replica != replica:
		a.bad = true
	case status == http.StatusOK && wr.Error != "":
		a.bad = true
	default:
		a.resp = &wr
	}
	return a
}

// round is the bookkeeping of one request across all replicas.
type round struct {
	op         string
	n, t       int
	answered   int
	valid      int
	unverified int // partials received and not verified yet (optimistic path)
	failures   []int
	culprits   []Culprit
	rejections map[string][]int
}

// culprit names a replica, once per round.
func (r *round) culprit(replica int, reason string) {
	for _, c := range r.culprits {
		if c.Replica == replica {
			return
		}
	}
	r.culprits = append(r.culprits, Culprit{Replica: replica, Reason: reason})
}

// reject records replica's refusal for reason. A replica counts once per
// reason however often it refuses (it may sit in several FROST sessions of
// one call): t+1 refusals are final only when t+1 distinct replicas gave
// them, one of which is then honest.
func (r *round) reject(replica int, reason string) {
	for _, x := range r.rejections[reason] {
		if x == replica {
			return
		}
	}
	r.rejections[reason] = append(r.rejections[reason], replica)
}

// noteFault marks replica suspect (asked last for suspectFor, see health)
// when its refusal reason is about its own state rather than the request:
// its share of the key is missing or damaged (engine.ErrShareUnavailable;
// the replica reports itself not ready, and an operator must restore or
// repair it). Otherwise every other call would pick it among its first
// replicas and pay a retry for it; now one call in suspectFor does. A
// replica that claims this falsely only sends itself to the back.
func (c *Client) noteFault(replica int, reason string) {
	if strings.Contains(reason, "share unavailable") {
		c.health.failed(replica)
	}
}

// rejected returns the rejection given by at least t+1 replicas, if any.
func (r *round) rejected() *RejectedError {
	for reason, reps := range r.rejections {
		if len(reps) >= r.t+1 {
			reps = append([]int(nil), reps...)
			sortInts(reps)
			return &RejectedError{Op: r.op, Reason: reason, Replicas: reps}
		}
	}
	return nil
}

// failure is the error of a round that ended without a result.
func (r *round) failure(timedOut bool) error {
	if rej := r.rejected(); rej != nil {
		return rej
	}
	failures := append([]int(nil), r.failures...)
	sortInts(failures)
	var rejections []Rejection
	for reason, reps := range r.rejections {
		reps = append([]int(nil), reps...)
		sortInts(reps)
		rejections = append(rejections, Rejection{Reason: reason, Replicas: reps})
	}
	sort.Slice(rejections, func(i, j int) bool { return rejections[i].Replicas[0] < rejections[j].Replicas[0] })
	return &QuorumError{
		Op: r.op, Needed: r.t + 1, Total: r.n, Answered: r.answered, Valid: r.valid,
		TimedOut: timedOut, Failures: failures, Rejections: rejections, Culprits: sortCulprits(r.culprits),
	}
}

// Rejection texts the client acts on (replica/app.ErrPoolEmpty,
// replica/app.ErrKeyExists).
const (
	poolEmptyReason = "pool empty, retry later"
	keyExistsReason = "key already exists"
)

// isRejection reports whether err is a rejection by t+1 replicas whose
// reason contains reason.
func isRejection(err error, reason string) bool {
	var re *RejectedError
	return errors.As(err, &re) && strings.Contains(re.Reason, reason)
}

// retryPoolEmpty runs attempt until it returns anything but a pool-empty
// rejection, waiting 100 ms, then doubling up to 1 s, between attempts, for
// at most c.poolWait in all and never past ctx.
func (c *Client) retryPoolEmpty(ctx context.Context, attempt func() error) error {
	deadline := time.Now().Add(c.poolWait)
	wait := 100 * time.Millisecond
	for {
		err := attempt()
		if !isRejection(err, poolEmptyReason) || time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// acceptFunc consumes one well-formed, non-rejecting answer. It updates
// r.valid and names culprits, and returns done once the operation's result
// is complete; an error ends the round immediately.
type acceptFunc func(r *round, replica int, resp *wire.Response) (done bool, err error)

// exchange signs a request, sends it to every replica concurrently, and
// feeds the answers to accept until it reports done, t+1 replicas reject
// the request and too few remain to succeed, every replica has answered,
// or the deadline passes.
// Replicas still answering when exchange returns finish in the background,
// bounded by the deadline, so that their connections stay reusable.
func (c *Client) exchange(ctx context.Context, op string, body any, accept acceptFunc) error {
	out, err := c.newSignedRequest(ctx, op, body)
	if err != nil {
		return err
	}
	return c.exchangeSigned(ctx, op, out, accept)
}

func (c *Client) exchangeSigned(ctx context.Context, op string, out *outgoing, accept acceptFunc) error {
	var first []int
	if unordered(op) {
		first = c.pick(c.t+1, nil)
	}
	return c.exchangeTo(ctx, op, out, first, accept)
}

// exchangeTo is exchange for a signed request, sent first to the replicas
// in first (nil: every replica at once). The others are asked too (a
// hedge) once any of the first fails, refuses or answers wrongly, or when
// the hedge delay (the recent p90 latency) passes without a result.
func (c *Client) exchangeTo(ctx context.Context, op string, out *outgoing, first []int, accept acceptFunc) error {
	return c.exchangeSettle(ctx, op, out, first, accept, nil)
}

// settleFunc is called when waiting for more answers is not worth it: every
// replica has answered (or failed), or every replica has been asked and a
// further hedge delay has passed since the later of the hedge and the
// (t+1)-th partial. It may finish the round with the answers it holds (an
// optimistic path that waited for more partials than it strictly needs);
// like acceptFunc it returns done, or an error that ends the round. It may
// be called more than once.
type settleFunc func(r *round) (done bool, err error)

// exchangeSettle is exchangeTo with a settle hook (nil: none).
func (c *Client) exchangeSettle(ctx context.Context, op string, out *outgoing, first []int, accept acceptFunc, settle settleFunc) error {
	rctx, cancel := context.WithTimeout(ctx, c.timeout)
	lat, hedgeDelay := &c.lat, c.lat.hedgeDelay
	if out.ordered != nil {
		// Ordered requests take a block: their answers set their own
		// hedge delay, and do not stretch that of the others. A slow
		// batch is slow at every replica (its block is), so asking the
		// last replica too would only add its partials' work: only a
		// replica twice as slow as the recent p90 is passed over.
		lat = out.ordered.q.lat
		hedgeDelay = func() time.Duration { return 2 * lat.hedgeDelay() }
	}
	answers := make(chan answer, len(c.replicas))
	sent := make([]bool, len(c.replicas))
	posted := 0
	post := func(i int) {
		if sent[i-1] {
			return
		}
		sent[i-1] = true
		posted++
		rc := c.replicas[i-1]
		go func() {
			start := time.Now()
			a := c.sendOut(rctx, rc, out)
			a.took = time.Since(start)
			if a.err == nil && !a.bad && a.resp.Error == "" {
				// Opened here, while the round's loop handles the other
				// answers, not after them (an X25519 and an AEAD each).
				a.opened = out.open(a.replica, a.resp)
			}
			answers <- a
		}()
	}
	var hedge <-chan time.Time
	var hedgeTimer *time.Timer
	started := time.Now()
	if first == nil {
		for i := 1; i <= len(c.replicas); i++ {
			post(i)
		}
	} else {
		for _, i := range first {
			post(i)
		}
		hedgeTimer = time.NewTimer(hedgeDelay())
		defer hedgeTimer.Stop()
		hedge = hedgeTimer.C
	}
	answeredBy := make([]bool, len(c.replicas))
	var settleTimer *time.Timer
	var settleAfter <-chan time.Time
	defer func() {
		if settleTimer != nil {
			settleTimer.Stop()
		}
	}()
	// armSettle starts the one settle countdown of the round: a hedge delay
	// more for the answers still out, then settle for what is in.
	armSettle := func() {
		if settle != nil && settleTimer == nil {
			settleTimer = time.NewTimer(hedgeDelay())
			settleAfter = settleTimer.C
		}
	}
	hedgeAll := func() {
		for i := 1; i <= len(c.replicas); i++ {
			post(i)
		}
		hedge = nil
		armSettle() // everyone is asked
	}
	received := 0
	defer func() {
		// Let stragglers finish (bounded by rctx), then release rctx.
		go func(pending int) {
			for range pending {
				<-answers
			}
			cancel()
		}(posted - received)
	}()

	r := &round{op: op, n: c.n, t: c.t, rejections: make(map[string][]int)}
	defer func() {
		// A replica named a culprit is asked last for a while: a liar among
		// the first asked would send most optimistic rounds down the
		// checked path. Only a wrong answer of its own names a replica.
		for _, cu := range r.culprits {
			c.health.failed(cu.Replica)
		}
	}()
	timedOut := func() error {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", r.failure(true), ctx.Err())
		}
		return r.failure(true)
	}
	finish := func(done bool, err error) (bool, error) {
		if err == nil && done && len(r.culprits) > 0 && c.onCulprit != nil {
			c.onCulprit(op, sortCulprits(r.culprits))
		}
		return done || err != nil, err
	}
	for {
		if received == posted {
			if posted == len(c.replicas) {
				if settle != nil {
					if end, err := finish(settle(r)); end {
						return err
					}
				}
				break
			}
			// Every replica asked so far has answered without a result: ask
			// the rest now.
			hedgeAll()
		}
		var a answer
		select {
		case a = <-answers:
			received++
			answeredBy[a.replica-1] = true
		case <-settleAfter:
			settleAfter = nil
			if end, err := finish(settle(r)); end {
				return err
			}
			continue
		case <-hedge:
			if wait := c.hedgeWait(sent, answeredBy, started, hedgeDelay()); wait > 0 {
				hedgeTimer.Reset(wait)
				continue
			}
			// The first replicas are slow: ask the rest, and ask others
			// first for a while.
			for i, sentTo := range sent {
				if sentTo && !answeredBy[i] {
					c.health.slow(i + 1)
				}
			}
			hedgeAll()
			continue
		case <-rctx.Done():
			return timedOut()
		}
		switch {
		case a.err != nil:
			r.failures = append(r.failures, a.replica)
			c.health.failed(a.replica)
			hedgeAll()
			continue
		case a.bad:
			r.answered++
			r.culprit(a.replica, ReasonMalformed)
			hedgeAll()
			continue
		}
		r.answered++
		c.health.answered(a.replica)
		if a.resp.Error != "" {
			hedgeAll()
			reason := sanitize(a.resp.Error)
			r.reject(a.replica, reason)
			c.noteFault(a.replica, reason)
			// t+1 equal rejections include an honest replica's, but an
			// honest replica that is a few blocks behind rejects what it
			// has not applied yet ("unknown key"). The rejection is final
			// only once the replicas still to answer cannot make t+1 valid.
			if rej := r.rejected(); rej != nil && r.valid+r.unverified+len(c.replicas)-received < r.t+1 {
				return rej
			}
			continue
		}
		if !a.opened {
			r.culprit(a.replica, ReasonMalformed)
			hedgeAll()
			continue
		}
		lat.observe(a.took)
		if !unordered(op) {
			c.noteHeight(a.resp.Height)
		}
		if end, err := finish(accept(r, a.replica, a.resp)); end {
			return err
		}
		if posted == len(c.replicas) && r.valid+r.unverified >= r.t+1 {
			// Everyone is asked (an ordered request asks everyone at once)
			// and t+1 partials are in: enough to finish the slow way.
			armSettle()
		}
	}
	if dl, _ := rctx.Deadline(); !time.Now().Before(dl) {
		// The last answers were failures because the deadline passed (a
		// batch's own deadline can fire before the round's context is
		// cancelled, so its Err may still be nil).
		return timedOut()
	}
	return r.failure(false)
}

// hedgeWaitFactor bounds, in hedge delays since a round started, how long
// hedgeWait holds back its hedge.
const hedgeWaitFactor = 4

// hedgeWait returns how much longer a round started at started waits before
// its hedge (0: hedge now). The recent p90 latency says when an answer is
// late; under load many answers are (a round waits for its slowest replica
// asked, and the p90 of single answers moves slower than the queues), and
// a hedge then makes a replica not asked do the work again, which the
// loaded machine pays for. So each replica asked and not yet heard from in
// this round that answered anything of this client within the last hedge
// delay hd is taken to be working through its queue: the round waits until
// the first of them has been silent for hd, but not beyond hedgeWaitFactor
// hd since it started. A stalled replica (stopped, cut off, its host
// frozen) answers nothing, and is hedged away from as before.
func (c *Client) hedgeWait(sent, answeredBy []bool, started time.Time, hd time.Duration) time.Duration {
	now := time.Now()
	wait := started.Add(hedgeWaitFactor * hd).Sub(now)
	if wait <= 0 {
		return 0
	}
	for i, s := range sent {
		if !s || answeredBy[i] {
			continue
		}
		heard := c.replicas[i].heard.Load()
		silent := now.Sub(time.Unix(0, heard))
		if heard == 0 || silent >= hd {
			return 0
		}
		wait = min(wait, hd-silent)
	}
	return max(wait, time.Millisecond)
}

// agreement collects public byte strings reported by replicas and yields a
// value once t+1 replicas reported identical bytes. Since at most t
// replicas are faulty, such a value was reported by an honest replica; a
// value claimed by fewer replicas is never used.
type agreement struct {
	need  int
	votes map[string][]int
	by    map[int]string
}

func newAgreement(t int) *agreement {
	return &agreement{need: t + 1, votes: make(map[string][]int), by: make(map[int]string)}
}

// add records replica's report.
func (g *agreement) add(replica int, v []byte) {
	if _, ok := g.by[replica]; ok {
		return
	}
	g.by[replica] = string(v)
	g.votes[string(v)] = append(g.votes[string(v)], replica)
}

// value returns the agreed value, if any.
func (g *agreement) value() ([]byte, bool) {
	for v, reps := range g.votes {
		if len(reps) >= g.need {
			return []byte(v), true
		}
	}
	return nil, false
}

// reported returns what replica reported.
func (g *agreement) reported(replica int) ([]byte, bool) {
	v, ok := g.by[replica]
	return []byte(v), ok
}

func sortInts(s []int) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// ReplicaStatus is one replica's GET /v1/status answer.
type ReplicaStatus struct {
	Replica int    `json:"replica"`
	Height  int64  `json:"height"`
	Ready   bool   `json:"ready"`
	Error   string `json:"error,omitempty"`
	// OpenSessions counts the DKG sessions (pool refills) still running.
	OpenSessions int `json:"open_sessions"`
	// Pools is the number of available items per pool kind (schnorr,
	// bls, symmetric: pre-generated keys; nonce: Schnorr nonce pairs).
	Pools map[string]int `json:"pools,omitempty"`
}

// Status queries every replica's status concurrently. A replica that cannot
// be reached or answers malformed data gets Ready false and Error set.
func (c *Client) Status(ctx context.Context) []ReplicaStatus {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	out := make([]ReplicaStatus, len(c.replicas))
	var wg sync.WaitGroup
	for i, rc := range c.replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = rc.status(ctx)
		}()
	}
	wg.Wait()
	return out
}

func (r *replicaConn) status(ctx context.Context) ReplicaStatus {
	st := ReplicaStatus{Replica: r.index}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url+"/v1/status", nil)
	if err != nil {
		st.Error = err.Error()
		return st
	}
	resp, err := r.http.Do(req)
	if err != nil {
		st.Error = err.Error()
		return st
	}
	defer resp.Body.Close()
	var got ReplicaStatus
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&got); err != nil || got.Replica != r.index {
		st.Error = fmt.Sprintf("malformed status (http %d)", resp.StatusCode)
		return st
	}
	got.Error = sanitize(got.Error)
	if resp.StatusCode != http.StatusOK && got.Error == "" {
		got.Error = fmt.Sprintf("http status %d", resp.StatusCode)
		got.Ready = false
	}
	return got
}
