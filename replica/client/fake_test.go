package client

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/vhsm/vhsm/replica/wire"
)

// fakeReply is what a fake replica answers: an HTTP status and a response,
// or hang until the client gives up.
type fakeReply struct {
	status int
	resp   *wire.Response
	raw    []byte // sent verbatim instead of resp when set
	hang   bool
	plain  bool // send a partial unsealed (a misbehaving replica)
}

// fakeClusterID is the fake cluster's id.
const fakeClusterID = "fake-cluster"

// fakeHandler decides a fake replica's reply to a verified request.
type fakeHandler func(replica int, req wire.Request, signed []byte) fakeReply

// fakeCluster is n fake replicas behind httptest TLS servers. Each checks
// the request's signature, strict encoding and expiry like a real replica
// would before asking the handler.
type fakeCluster struct {
	t       testing.TB
	cfg     *Config
	pub     ed25519.PublicKey
	servers []*httptest.Server

	mu      sync.Mutex
	handler fakeHandler      // replaced by tests while servers may still run
	seen    map[int][][]byte // signed request bytes received, by replica
	heights map[int]int64    // committed height each replica's status reports (default 5)
	// tamper, when set, may change a batch's answer before it is sealed:
	// it returns the bundle to seal, or sets resp.Sealed itself.
	tamper func(replica int, resp *wire.Response, bundle, reply []byte, hash [32]byte) []byte
}

// getHandler returns the current handler.
func (fc *fakeCluster) getHandler() fakeHandler {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	return fc.handler
}

// setHandler replaces the handler; requests of an earlier round that are
// still being served may see either.
func (fc *fakeCluster) setHandler(h fakeHandler) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.handler = h
}

func newFakeCluster(t testing.TB, n, th int, h fakeHandler) *fakeCluster {
	t.Helper()
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	fc := &fakeCluster{
		t:       t,
		pub:     ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey),
		handler: h,
		seen:    make(map[int][][]byte),
	}
	cfg := &Config{ClientID: "alice", Cluster: fakeClusterID, PrivateKey: seed, N: n, T: th, Timeout: "2s"}
	for i := 1; i <= n; i++ {
		srv := httptest.NewUnstartedServer(fc.serve(i))
		srv.EnableHTTP2 = true
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}
		srv.StartTLS()
		t.Cleanup(srv.Close)
		fc.servers = append(fc.servers, srv)
		cfg.Replicas = append(cfg.Replicas, ReplicaEndpoint{Index: i, URL: srv.URL, TLSCert: srv.Certificate().Raw})
	}
	fc.cfg = cfg
	return fc
}

func (fc *fakeCluster) serve(replica int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/status" {
			fc.mu.Lock()
			h, ok := fc.heights[replica]
			fc.mu.Unlock()
			if !ok {
				h = 5
			}
			json.NewEncoder(w).Encode(ReplicaStatus{Replica: replica, Height: h, Ready: true})
			return
		}
		var buf bytes.Buffer
		buf.ReadFrom(http.MaxBytesReader(w, r.Body, wire.MaxRequestBytes))
		signed := buf.Bytes()
		fc.mu.Lock()
		fc.seen[replica] = append(fc.seen[replica], bytes.Clone(signed))
		fc.mu.Unlock()
		req, err := fc.verify(signed)
		if err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(wire.Response{Replica: replica, Error: err.Error()})
			return
		}
		var rep fakeReply
		if req.Op == wire.OpBatch || wire.OrderedBatchItemOp(req.Op) != "" {
			rep = fc.batch(replica, req, signed)
		} else {
			rep = fc.getHandler()(replica, req, signed)
		}
		if rep.hang {
			<-r.Context().Done()
			return
		}
		if rep.status == 0 {
			rep.status = http.StatusOK
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.status)
		if rep.raw != nil {
			w.Write(rep.raw)
			return
		}
		// Like a real replica, seal a partial to the request's reply key
		// (unless the test sends it in the clear on purpose).
		if rep.resp != nil && len(rep.resp.Partial) > 0 && len(req.Reply) > 0 && !rep.plain && req.Op != wire.OpBatch && req.Op != wire.OpEth2Batch {
			var sr wire.SignedRequest
			json.Unmarshal(signed, &sr)
			resp := *rep.resp
			sealed, err := wire.SealReply(req.Reply, wire.RequestHash(sr.Request), replica, resp.Partial)
			if err != nil {
				fc.t.Errorf("fake replica %d: seal: %v", replica, err)
			}
			resp.Partial, resp.Sealed = nil, sealed
			rep.resp = &resp
		}
		json.NewEncoder(w).Encode(rep.resp)
	}
}

// batch answers a batch as a real replica does: each item by the handler
// as if it were a request of its own (with the batch's id, expiry, reply
// key), their partials sealed together to the batch's reply key. An item
// whose reply is a hang, an HTTP failure or raw bytes makes the whole
// batch's reply that; a plain item keeps its partial in the clear.
func (fc *fakeCluster) batch(replica int, req wire.Request, signed []byte) fakeReply {
	var b wire.BatchBody
	if wire.OrderedBatchItemOp(req.Op) != "" {
		// Ordered: the same batch for every replica.
		var eb wire.Eth2BatchBody
		if err := json.Unmarshal(req.Body, &eb); err != nil {
			return fakeReply{status: http.StatusBadRequest, resp: &wire.Response{Replica: replica, Error: "bad batch"}}
		}
		b = wire.BatchBody{Replica: replica, Items: eb.Items}
	} else if err := json.Unmarshal(req.Body, &b); err != nil {
		b.Replica = 0
	}
	if b.Replica != replica || len(b.Items) == 0 || len(b.Items) > wire.MaxBatchItems {
		return fakeReply{status: http.StatusBadRequest, resp: &wire.Response{Replica: replica, Error: "bad batch"}}
	}
	resp := &wire.Response{Replica: replica, Height: 9, Items: make([]wire.Response, len(b.Items))}
	var bundle []byte
	h := fc.getHandler()
	for i, it := range b.Items {
		ir := req
		ir.Op, ir.Body = it.Op, it.Body
		rep := h(replica, ir, signed)
		if rep.hang || rep.raw != nil || (rep.status != 0 && rep.status != http.StatusOK) {
			return rep
		}
		var item wire.Response
		if rep.resp != nil {
			item = *rep.resp
		}
		var part []byte
		if !rep.plain {
			part, item.Partial = item.Partial, nil
		}
		resp.Items[i] = item
		bundle = wire.AppendBundle(bundle, part)
	}
	if req.Op == wire.OpKeyGenBatch {
		// Public answers: nothing sealed.
		return fakeReply{resp: resp}
	}
	var sr wire.SignedRequest
	json.Unmarshal(signed, &sr)
	hash := wire.RequestHash(sr.Request)
	fc.mu.Lock()
	tamper := fc.tamper
	fc.mu.Unlock()
	if tamper != nil {
		bundle = tamper(replica, resp, bundle, req.Reply, hash)
		if resp.Sealed != nil {
			return fakeReply{resp: resp}
		}
	}
	sealed, err := wire.SealReply(req.Reply, hash, replica, bundle)
	if err != nil {
		fc.t.Errorf("fake replica %d: seal: %v", replica, err)
	}
	resp.Sealed = sealed
	return fakeReply{resp: resp}
}

type fakeErr string

func (e fakeErr) Error() string { return string(e) }

// verify checks a signed request as a replica does.
func (fc *fakeCluster) verify(signed []byte) (wire.Request, error) {
	var sr wire.SignedRequest
	if err := json.Unmarshal(signed, &sr); err != nil {
		return wire.Request{}, fakeErr("bad envelope")
	}
	msg := append([]byte(wire.RequestContext), sr.Request...)
	if !ed25519.Verify(fc.pub, msg, sr.Signature) {
		return wire.Request{}, fakeErr("bad signature")
	}
	dec := json.NewDecoder(bytes.NewReader(sr.Request))
	dec.DisallowUnknownFields()
	var req wire.Request
	if err := dec.Decode(&req); err != nil {
		return wire.Request{}, fakeErr("bad request")
	}
	now := time.Now().Unix()
	if req.Expires < now || req.Expires > now+wire.MaxValidity {
		return wire.Request{}, fakeErr("expired")
	}
	if len(req.ID) != 32 || req.Client != "alice" {
		return wire.Request{}, fakeErr("bad id or client")
	}
	if req.Cluster != fakeClusterID {
		return wire.Request{}, fakeErr("wrong cluster")
	}
	if wire.NeedsReply(req.Op) != (len(req.Reply) == wire.ReplyKeyLen) {
		return wire.Request{}, fakeErr("reply key")
	}
	return req, nil
}

func (fc *fakeCluster) client(opts ...Option) *Client {
	fc.t.Helper()
	// The fake's tests of batches send lone requests too: batch them as
	// before requests alone went unbatched (TestLoneRequestUnbatched).
	c, err := New(fc.cfg, append([]Option{WithBatchingAlways()}, opts...)...)
	if err != nil {
		fc.t.Fatal(err)
	}
	fc.t.Cleanup(func() { c.Close() })
	return c
}

// ok is a successful empty reply.
func ok(replica int) fakeReply {
	return fakeReply{resp: &wire.Response{Replica: replica, Height: 9}}
}

// selfSigned makes a fresh self-signed ECDSA P-256 certificate for
// 127.0.0.1, like a replica's (httptest's built-in one is shared by all
// servers, which would defeat the pinning tests).
func selfSigned(t testing.TB) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "fake replica"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// signsSeen counts the sign requests replica received, alone or as items
// of batches.
func (fc *fakeCluster) signsSeen(replica int) int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	n := 0
	for _, signed := range fc.seen[replica] {
		var sr wire.SignedRequest
		var req wire.Request
		var b wire.BatchBody
		if json.Unmarshal(signed, &sr) != nil || json.Unmarshal(sr.Request, &req) != nil {
			continue
		}
		switch {
		case req.Op == wire.OpSign:
			n++
		case req.Op == wire.OpBatch && json.Unmarshal(req.Body, &b) == nil:
			for _, it := range b.Items {
				if it.Op == wire.OpSign {
					n++
				}
			}
		}
	}
	return n
}
