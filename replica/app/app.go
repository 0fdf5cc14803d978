package app

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/vhsm/vhsm/replica/app/slashing"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dkg"
	bolt "go.etcd.io/bbolt"
)

var _ abcitypes.Application = (*App)(nil)

// App is the ABCI application. CometBFT serializes the consensus calls
// (InitChain, FinalizeBlock, Commit); CheckTx and the read view may run
// concurrently with them and see only committed state.
type App struct {
	abcitypes.BaseApplication

	db  *bolt.DB
	g   Genesis
	log *slog.Logger

	mu      sync.Mutex // guards the fields below
	height  int64
	appHash []byte // hash chain over every block's writes
	// reported is the app hash given to CometBFT: appHash as of the last
	// checkpoint, taken at the first block at least checkpointEvery (block
	// time) after the previous one. See FinalizeBlock.
	reported   []byte
	reportedAt int64                   // block time of the last checkpoint, Unix nanoseconds
	block      *overlay                // staged writes of the block being finalized
	sessions   map[string]*dkg.Session // open sessions, rebuilt lazily
	repairs    map[string]*dkg.Session // done sessions under repair, rebuilt lazily (repair.go)
	staging    map[string][]byte       // JSON results of the block being finalized, by "client/id"
	dec        decodeCache             // recently decoded DKG messages
	sigs       sigCache                // client signatures that verified (own lock)
	reqs       memo                    // client requests that verified (memo.go)
	eth2s      memo                    // parsed typed eth2 requests (memo.go)
	txs        memo                    // decoded client transactions (memo.go)
	passed     memo                    // transactions that passed check, by state version (memo.go)
	// version counts the changes of the committed state: odd while Commit
	// writes a block, even otherwise (see check).
	version atomic.Uint64
	now     func() time.Time
	// slashPolicy is the slashing-protection policy (zero: slashing.Minimal);
	// eth2Decode, when set by a test, replaces replica/eth2's parser (the
	// interchange conformance test submits given slots and roots).
	slashPolicy slashing.Policy
	eth2Decode  func(request []byte) (*eth2Typed, error)

	// rmu guards the channels and the results of the finalized block, so
	// that the engine's readers never wait for a block being executed.
	rmu      sync.Mutex
	commitCh chan struct{}     // closed and replaced at every Commit
	resultCh chan struct{}     // closed and replaced at every FinalizeBlock and Commit
	final    map[string][]byte // JSON results of the finalized block not committed yet
	pending  bool              // a block is finalized and not committed yet
}

// New opens (or creates) the state in dir and resumes from the last
// committed block.
func New(dir string, g Genesis, log *slog.Logger) (*App, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, "state.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("open state: %w", err)
	}
	a := &App{db: db, g: g, log: log, sessions: map[string]*dkg.Session{}, commitCh: make(chan struct{}), resultCh: make(chan struct{}), now: time.Now}
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if _, err := tx.CreateBucketIfNotExists(bucketState); err != nil {
			return err
		}
		if h := meta.Get(keyHeight); len(h) == 8 {
			a.height = int64(binary.BigEndian.Uint64(h))
			a.appHash = bytes.Clone(meta.Get(keyAppHash))
			a.reported, a.reportedAt = decodeCheckpoint(meta.Get(keyReported), a.appHash)
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("read state: %w", err)
	}
	return a, nil
}

// Close closes the state database.
func (a *App) Close() error { return a.db.Close() }

// Genesis returns the genesis the app was opened with.
func (a *App) Genesis() Genesis { return a.g }

// Info reports the last committed height and the app hash reported for it,
// for handshake replay.
func (a *App) Info(context.Context, *abcitypes.InfoRequest) (*abcitypes.InfoResponse, error) {
	h, _, hash := a.committedMeta()
	return &abcitypes.InfoResponse{Data: "vhsm", Version: "1", AppVersion: 1, LastBlockHeight: h, LastBlockAppHash: hash}, nil
}

// checkpointEvery is the block time between two app hash checkpoints.
//
// With empty blocks off, CometBFT follows every block whose app hash
// changed with an extra (empty) block that carries the new hash, and a
// request arriving meanwhile waits for it: a client issuing requests one
// after the other would pay two blocks for each. The app therefore reports
// the hash of its state as of the last checkpoint, taken at the first block
// at least this long after the previous one, and only then does CometBFT
// add the extra block. Every replica computes the same checkpoints from the
// block times, so a replica whose state diverged is still caught (it
// disagrees with the others at the next checkpoint); only the detection is
// delayed, by at most this long while requests keep coming. Results are
// unaffected: they are final at FinalizeBlock either way.
const checkpointEvery = time.Second

// checkpoint returns the app hash to report after a block at time now.
func (a *App) checkpoint(now time.Time) []byte {
	if a.reported == nil || now.UnixNano()-a.reportedAt >= int64(checkpointEvery) {
		a.reported, a.reportedAt = bytes.Clone(a.appHash), now.UnixNano()
	}
	return a.reported
}

// encodeCheckpoint encodes the reported hash and its block time.
func encodeCheckpoint(hash []byte, at int64) []byte {
	return append(bytes.Clone(hash), u64(uint64(at))...)
}

// decodeCheckpoint decodes a stored checkpoint; a state written before
// checkpoints existed reported every block's hash, full.
func decodeCheckpoint(b, full []byte) ([]byte, int64) {
	if len(b) < 8 {
		return full, 0
	}
	n := len(b) - 8
	return b[:n], int64(binary.BigEndian.Uint64(b[n:]))
}

// InitChain checks that app_state (if present) equals the configured genesis,
// registers the admin and opens the initial pool sessions.
func (a *App) InitChain(_ context.Context, req *abcitypes.InitChainRequest) (*abcitypes.InitChainResponse, error) {
	if len(req.AppStateBytes) > 0 {
		var g Genesis
		if err := json.Unmarshal(req.AppStateBytes, &g); err != nil {
			return nil, fmt.Errorf("%w: app_state: %v", ErrBadGenesis, err)
		}
		mine, _ := json.Marshal(a.g)
		theirs, _ := json.Marshal(g)
		if !bytes.Equal(mine, theirs) {
			return nil, fmt.Errorf("%w: app_state differs from the replica's genesis", ErrBadGenesis)
		}
	}
	if req.ChainId != a.g.Cluster {
		return nil, fmt.Errorf("%w: chain id %q is not the cluster id %q", ErrBadGenesis, req.ChainId, a.g.Cluster)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	o := newOverlay(a.db)
	if err := o.putJSON(pClient+a.g.Admin.ID, a.g.Admin); err != nil {
		return nil, err
	}
	o.put(kChain, []byte(req.ChainId))
	if err := a.refill(o, req.InitialHeight); err != nil {
		return nil, err
	}
	d, _ := o.digest()
	a.block = o
	a.appHash = chainHash(nil, d)
	a.reported = nil
	return &abcitypes.InitChainResponse{AppHash: bytes.Clone(a.checkpoint(req.Time))}, nil
}

// CheckTx validates a transaction against the committed state and local
// time, without changing anything.
func (a *App) CheckTx(_ context.Context, req *abcitypes.CheckTxRequest) (*abcitypes.CheckTxResponse, error) {
	err := a.check(req.Tx)
	if err != nil {
		return &abcitypes.CheckTxResponse{Code: codeOf(err), Log: err.Error()}, nil
	}
	return &abcitypes.CheckTxResponse{Code: abcitypes.CodeTypeOK}, nil
}

// Precheck runs the CheckTx validation of a transaction (committed state,
// local time) and returns the rejection, if any.
func (a *App) Precheck(tx []byte) error { return a.check(tx) }

func (a *App) check(txb []byte) error {
	// The verdict is a function of the bytes, the committed state and the
	// second of a.now (expiry). A replica checks each client request it is
	// sent twice in a row, Precheck then CheckTx when it submits the
	// request, mostly against the same committed state: a pass is
	// remembered for that state version and second (memo.go). version is
	// odd while Commit writes, and a check that saw it change is not
	// remembered, so an entry is only ever for one whole committed state.
	now := a.now().Unix()
	v := a.version.Load()
	d := checkDigest(txb, v, now)
	if v%2 == 0 {
		if _, ok := a.passed.get(d); ok {
			return nil
		}
	}
	err := a.checkAt(txb, now)
	if err == nil && v%2 == 0 && a.version.Load() == v {
		a.passed.put(d, struct{}{})
	}
	return err
}

// checkAt is check without the memo, at time now (Unix seconds).
func (a *App) checkAt(txb []byte, now int64) error {
	tx, err := a.decodeTx(txb)
	if err != nil {
		return err
	}
	o := newOverlay(a.db) // scratch: discarded
	if tx.Replica != nil {
		_, _, err := a.verifyReplicaTx(o, tx.Replica)
		return err
	}
	req, _, err := a.admit(o, tx.Client, now)
	if err != nil {
		return err
	}
	if wire.OrderedBatchItemOp(req.Op) != "" {
		// Its items are decided one by one in the log, whatever each one's
		// outcome: only the batch's form decides admission.
		_, err = parseOrderedBatch(req)
		return err
	}
	_, err = a.execOp(o, req, 0)
	return err
}

// ProcessProposal rejects a block holding a transaction that is not even a
// well-formed envelope.
func (a *App) ProcessProposal(_ context.Context, req *abcitypes.ProcessProposalRequest) (*abcitypes.ProcessProposalResponse, error) {
	for _, tx := range req.Txs {
		if _, err := a.decodeTx(tx); err != nil {
			return &abcitypes.ProcessProposalResponse{Status: abcitypes.PROCESS_PROPOSAL_STATUS_REJECT}, nil
		}
	}
	return &abcitypes.ProcessProposalResponse{Status: abcitypes.PROCESS_PROPOSAL_STATUS_ACCEPT}, nil
}

// PrepareProposal passes the mempool's transactions through, within the
// byte limit.
func (a *App) PrepareProposal(_ context.Context, req *abcitypes.PrepareProposalRequest) (*abcitypes.PrepareProposalResponse, error) {
	var txs [][]byte
	var size int64
	for _, tx := range req.Txs {
		if size += int64(len(tx)); req.MaxTxBytes > 0 && size > req.MaxTxBytes {
			break
		}
		txs = append(txs, tx)
	}
	return &abcitypes.PrepareProposalResponse{Txs: txs}, nil
}

// FinalizeBlock executes every transaction deterministically against the
// staged state, using the block time for expiry.
func (a *App) FinalizeBlock(_ context.Context, req *abcitypes.FinalizeBlockRequest) (*abcitypes.FinalizeBlockResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	o := a.block
	if o == nil {
		o = newOverlay(a.db)
	}
	now := req.Time.Unix()
	results := make([]*abcitypes.ExecTxResult, len(req.Txs))
	a.staging = map[string][]byte{}
	for i, txb := range req.Txs {
		data, err := a.deliver(o, txb, now, req.Height)
		if err != nil && codeOf(err) == 255 {
			return nil, fmt.Errorf("execute tx %d: %w", i, err) // storage failure: halt
		}
		results[i] = &abcitypes.ExecTxResult{Code: codeOf(err), Data: data}
		if err != nil {
			results[i].Log = err.Error()
		}
	}
	if err := a.prune(o, now); err != nil {
		return nil, err
	}
	if err := a.refill(o, req.Height); err != nil {
		return nil, err
	}
	if d, ok := o.digest(); ok {
		a.appHash = chainHash(a.appHash, d)
	}
	a.block = o
	a.height = req.Height
	// The block is decided (CometBFT stored it before calling
	// FinalizeBlock), so its results are final: a crash before Commit
	// replays the block and computes the same ones. Publishing them now
	// lets replicas answer without waiting for the block's storage (the
	// Commit below and CometBFT's own). This is the same guarantee as
	// answering after Commit, whose app hash no client checks either; a
	// consumed nonce is still recorded durably by the engine before its
	// partial leaves.
	a.rmu.Lock()
	a.final, a.staging, a.pending = a.staging, nil, true
	close(a.resultCh)
	a.resultCh = make(chan struct{})
	a.rmu.Unlock()
	return &abcitypes.FinalizeBlockResponse{TxResults: results, AppHash: bytes.Clone(a.checkpoint(req.Time))}, nil
}

// Commit persists the block's writes, height and app hash atomically and
// wakes the waiters.
func (a *App) Commit(context.Context, *abcitypes.CommitRequest) (*abcitypes.CommitResponse, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	o := a.block
	if o == nil {
		o = newOverlay(a.db)
	}
	a.version.Add(1) // odd: the committed state is changing (see check)
	err := o.flush(a.height, a.appHash, map[string][]byte{string(keyReported): encodeCheckpoint(a.reported, a.reportedAt)})
	a.version.Add(1)
	if err != nil {
		return nil, fmt.Errorf("commit block %d: %w", a.height, err)
	}
	a.block = nil
	a.rmu.Lock()
	a.final, a.pending = nil, false
	close(a.commitCh)
	a.commitCh = make(chan struct{})
	close(a.resultCh)
	a.resultCh = make(chan struct{})
	a.rmu.Unlock()
	return &abcitypes.CommitResponse{}, nil
}

// Query answers "height" with the committed height (8 bytes big-endian).
func (a *App) Query(_ context.Context, req *abcitypes.QueryRequest) (*abcitypes.QueryResponse, error) {
	h, _ := a.Committed()
	return &abcitypes.QueryResponse{Code: 0, Value: []byte(u64(uint64(h))), Height: h}, nil
}

// Committed returns the last committed height and state hash.
func (a *App) Committed() (int64, []byte) {
	h, full, _ := a.committedMeta()
	return h, full
}

// committedMeta reads the last committed height, state hash and the app
// hash reported to CometBFT for it (the last checkpoint).
func (a *App) committedMeta() (h int64, full, reported []byte) {
	_ = a.db.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket(bucketMeta); m != nil {
			if b := m.Get(keyHeight); len(b) == 8 {
				h = int64(binary.BigEndian.Uint64(b))
				full = bytes.Clone(m.Get(keyAppHash))
				r, _ := decodeCheckpoint(m.Get(keyReported), full)
				reported = bytes.Clone(r)
			}
		}
		return nil
	})
	return h, full, reported
}

// deliver executes one transaction; the returned data is the JSON [Result]
// for client requests.
func (a *App) deliver(o *overlay, txb []byte, now, height int64) ([]byte, error) {
	tx, err := a.decodeTx(txb)
	if err != nil {
		return nil, err
	}
	if tx.Replica != nil {
		return nil, a.applyReplicaTx(o, tx.Replica, height)
	}
	req, _, err := a.admit(o, tx.Client, now)
	if err != nil {
		return nil, err
	}
	// From here the request is authentic and fresh: it is recorded, whatever
	// the outcome of its operation, so that its id cannot be used again.
	res, err := a.execOp(o, req, height)
	if err != nil {
		if codeOf(err) == 255 {
			return nil, err
		}
		res = Result{Code: codeOf(err), Error: err.Error()}
	}
	h := wire.RequestHash(tx.Client.Request)
	res.Request, res.Height, res.Op = h[:], height, req.Op
	rk := req.Client + "/" + req.ID
	if err := o.putJSON(pReq+rk, requestRecord{Expires: req.Expires, Result: res}); err != nil {
		return nil, err
	}
	o.put(pExp+u64(uint64(req.Expires))+rk, []byte{})
	data, _ := json.Marshal(res)
	if a.staging != nil {
		a.staging[rk] = data
	}
	if res.Code != 0 {
		return data, fmt.Errorf("%w", errorOf(res.Code))
	}
	return data, nil
}

func errorOf(code uint32) error {
	if int(code) < len(codes) && code > 0 {
		return codes[code]
	}
	return ErrMalformed
}

// admit authenticates a client request and checks expiry and replay.
func (a *App) admit(o *overlay, sr *wire.SignedRequest, now int64) (*wire.Request, *ClientInfo, error) {
	req, c, err := verifyRequest(sr, a.g.Cluster, func(id string) (*ClientInfo, error) { return lookupClient(o, id) }, &a.sigs, &a.reqs)
	if err != nil {
		return nil, nil, err
	}
	if err := checkExpiry(req, now); err != nil {
		return nil, nil, err
	}
	seen, err := o.get(pReq + req.Client + "/" + req.ID)
	if err != nil {
		return nil, nil, err
	}
	if seen != nil {
		return nil, nil, ErrReplay
	}
	return req, c, nil
}

func lookupClient(o *overlay, id string) (*ClientInfo, error) {
	var c ClientInfo
	ok, err := o.getJSON(pClient+id, &c)
	if err != nil || !ok {
		return nil, err
	}
	return &c, nil
}

// prune forgets requests whose expiry is before the block time: they can no
// longer be replayed since expired requests are rejected anyway.
func (a *App) prune(o *overlay, now int64) error {
	var dead []string
	err := scan(a.db, pExp, func(k, _ []byte) error {
		if len(k) < len(pExp)+8 || int64(binary.BigEndian.Uint64(k[len(pExp):])) >= now {
			return errStop
		}
		dead = append(dead, string(k))
		return nil
	})
	if err != nil && err != errStop {
		return err
	}
	for _, k := range dead {
		o.del(k)
		o.del(pReq + k[len(pExp)+8:])
	}
	return nil
}
