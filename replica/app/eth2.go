package app

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/vhsm/vhsm/replica/app/slashing"
	"github.com/vhsm/vhsm/replica/eth2"
	"github.com/vhsm/vhsm/replica/wire"
)

// Ethereum validator keys and slashing protection in the ordered state.
//
// A bls key marked [wire.UsageEth2Validator] (at keys.gen, or later by
// keys.validator, for good) signs only typed remote-signing requests
// (eth2.sign): the replicas compute the signing root themselves
// (replica/eth2), and refuse raw message signing with it. Block proposals
// and attestations are ordered: here, in FinalizeBlock, the request is
// parsed, checked against the slashing history of (genesis validators
// root, pubkey) and recorded in one step (replica/app/slashing), and only a
// committed success lets a replica's engine sign. Since every honest
// replica applies the same log, a conflicting pair can never both succeed,
// whichever replicas each was sent to.

// Eth2Signed is the committed outcome of an ordered eth2.sign: the key and
// the signing root the replicas may now sign, and nothing else.
type Eth2Signed struct {
	KeyID       string `json:"key_id"`
	SigningRoot []byte `json:"signing_root"` // 32 bytes
}

// eth2Typed is what the state machine takes from a typed request: its
// signing root and, for a block or an attestation, the slashable data.
type eth2Typed struct {
	Root      [32]byte
	Slashable *eth2.Slashable
}

// decodeEth2 parses a typed request with replica/eth2 (deterministic: a
// function of the bytes alone).
func decodeEth2(request []byte) (*eth2Typed, error) {
	r, err := eth2.Parse(request)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEth2Request, err)
	}
	root, err := r.SigningRoot()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEth2Request, err)
	}
	return &eth2Typed{Root: root, Slashable: r.Slashable()}, nil
}

// ParseEth2 parses a typed remote-signing request as every replica does and
// returns its signing root and whether it is slashable (a block proposal or
// an attestation, which are ordered). The error wraps ErrEth2Request.
func ParseEth2(request []byte) (root [32]byte, slashable bool, err error) {
	t, err := decodeEth2(request)
	if err != nil {
		return root, false, err
	}
	return t.Root, t.Slashable != nil, nil
}

// IsValidatorKey reports whether k is marked as an Ethereum validator key.
func IsValidatorKey(k *KeyRecord) bool { return k.Info.Usage == wire.UsageEth2Validator }

// checkUsage validates a keys.gen usage for scheme.
func checkUsage(scheme, usage string) error {
	switch {
	case usage == "":
		return nil
	case usage == wire.UsageEth2Validator && scheme == wire.SchemeBLS:
		return nil
	case usage == wire.UsageEth2Validator:
		return fmt.Errorf("%w: only bls keys can be validator keys", ErrBadBody)
	}
	return fmt.Errorf("%w: unknown usage %q", ErrBadBody, usage)
}

// execKeyValidator marks an existing bls key as a validator key (owner or
// admin); marking a validator key again changes nothing.
func (a *App) execKeyValidator(o *overlay, req *wire.Request, caller *ClientInfo) (Result, error) {
	var b wire.KeyRefBody
	if err := decodeStrict(req.Body, &b); err != nil || !validID(b.KeyID) {
		return Result{}, ErrBadBody
	}
	k, err := getKey(o, b.KeyID)
	if err != nil {
		return Result{}, err
	}
	if k.Info.Owner != req.Client && !caller.Admin {
		return Result{}, ErrUnauthorized
	}
	if k.Info.Scheme != wire.SchemeBLS {
		return Result{}, fmt.Errorf("%w: only bls keys can be validator keys", ErrBadScheme)
	}
	if !IsValidatorKey(k) {
		k.Info.Usage = wire.UsageEth2Validator
		if err := o.putJSON(pKey+b.KeyID, k); err != nil {
			return Result{}, err
		}
	}
	return Result{Key: &k.Info}, nil
}

// execEth2Sign decides an ordered eth2.sign: a block proposal or an
// attestation with a validator key the client may use, checked against and
// recorded in its slashing history. Other types are not ordered.
func (a *App) execEth2Sign(o *overlay, req *wire.Request) (Result, error) {
	var b wire.Eth2SignBody
	if err := decodeStrict(req.Body, &b); err != nil || !validID(b.KeyID) || len(b.Request) == 0 {
		return Result{}, ErrBadBody
	}
	k, err := getKey(o, b.KeyID)
	if err != nil {
		return Result{}, err
	}
	if err := authorizeUse(k, req.Client); err != nil {
		return Result{}, err
	}
	if !IsValidatorKey(k) {
		return Result{}, fmt.Errorf("%w: key %s is not a validator key", ErrValidatorKey, b.KeyID)
	}
	var pk slashing.Pubkey
	if len(k.Info.PublicKey) != len(pk) {
		return Result{}, fmt.Errorf("%w: key %s has no bls public key", ErrBadScheme, b.KeyID)
	}
	copy(pk[:], k.Info.PublicKey)
	var t *eth2Typed
	if a.eth2Decode != nil {
		t, err = a.eth2Decode(b.Request)
	} else {
		t, err = decodeEth2Memo(&a.eth2s, b.Request)
	}
	if err != nil {
		return Result{}, err
	}
	s := t.Slashable
	if s == nil {
		return Result{}, fmt.Errorf("%w: only block proposals and attestations are ordered", ErrBadOp)
	}
	h, err := loadHistory(o, s.GenesisValidatorsRoot, pk)
	if err != nil {
		return Result{}, err
	}
	root := slashing.Root(t.Root)
	switch s.Kind {
	case eth2.KindBlock:
		err = h.RecordBlock(a.policy(), s.Slot, root)
	case eth2.KindAttestation:
		err = h.RecordAttestation(a.policy(), s.SourceEpoch, s.TargetEpoch, root)
	default:
		return Result{}, fmt.Errorf("%w: slashable kind %d", ErrEth2Request, s.Kind)
	}
	if err != nil {
		// A *slashing.Conflict names the record or watermark at fault.
		return Result{}, fmt.Errorf("%w: validator 0x%x: %w", ErrSlashable, pk[:], err)
	}
	if err := storeHistory(o, s.GenesisValidatorsRoot, pk, h); err != nil {
		return Result{}, err
	}
	return Result{Eth2: &Eth2Signed{KeyID: b.KeyID, SigningRoot: slices.Clone(t.Root[:])}}, nil
}

// execOrderedBatch decides the items of an ordered batch (eth2.batch,
// keys.gen.batch) one after the other, each exactly as a request of its own
// (exec: execEth2Sign, or execOp for a keys.gen), so that a later item sees
// what an earlier one recorded or took. A malformed batch is refused whole;
// an item's refusal (a slashable request, a key id taken, an empty pool, a
// reused id, a key it may not use) is that item's result only. Each item's
// result binds the item's hash and is recorded under its id until the batch
// expires, which makes the id single-use like a request id.
func (a *App) execOrderedBatch(o *overlay, req *wire.Request, height int64, exec func(sub *wire.Request) (Result, error)) (Result, error) {
	items, err := parseOrderedBatch(req)
	if err != nil {
		return Result{}, err
	}
	res := Result{Items: make([]Result, len(items))}
	sub := *req
	for i := range items {
		it := &items[i]
		rk := req.Client + "/" + it.ID
		var r Result
		seen, err := o.get(pReq + rk)
		if err != nil {
			return Result{}, err
		}
		if seen != nil {
			err = fmt.Errorf("%w: %s", ErrIDReused, it.ID)
		} else {
			sub.ID, sub.Op, sub.Body = it.ID, it.Op, it.Body
			r, err = exec(&sub)
		}
		if err != nil {
			if codeOf(err) == 255 {
				return Result{}, err
			}
			r = Result{Code: codeOf(err), Error: err.Error()}
		}
		h := wire.ItemHash(req.Client, it)
		r.Request, r.Height, r.Op = h[:], height, it.Op
		if seen == nil {
			if err := o.putJSON(pReq+rk, requestRecord{Expires: req.Expires, Result: r}); err != nil {
				return Result{}, err
			}
			o.put(pExp+u64(uint64(req.Expires))+rk, []byte{})
		}
		res.Items[i] = r
	}
	return res, nil
}

// parseOrderedBatch decodes and checks the body of an ordered batch:
// 1..MaxBatchItems items of the batch's item operation
// (wire.OrderedBatchItemOp) with well-formed ids, distinct and not the
// batch's. This is all CheckTx asks of a batch: its items are decided in
// the log, each on its own, and a refused item refuses only itself.
func parseOrderedBatch(req *wire.Request) ([]wire.BatchItem, error) {
	op := wire.OrderedBatchItemOp(req.Op)
	var b wire.OrderedBatchBody
	if op == "" || decodeStrict(req.Body, &b) != nil || len(b.Items) == 0 || len(b.Items) > wire.MaxBatchItems {
		return nil, ErrBadBody
	}
	ids := make(map[string]bool, len(b.Items)+1)
	ids[req.ID] = true
	for i, it := range b.Items {
		if it.Op != op || !ValidRequestID(it.ID) || ids[it.ID] {
			return nil, fmt.Errorf("%w: item %d: a %s with an id of its own", ErrBadBody, i, op)
		}
		ids[it.ID] = true
	}
	return b.Items, nil
}

// execSlashingImport merges an EIP-3076 interchange file (admin only), all
// or nothing: every history is merged in memory first and written only when
// all merged.
func (a *App) execSlashingImport(o *overlay, req *wire.Request, caller *ClientInfo) (Result, error) {
	var b wire.SlashingImportBody
	if err := decodeStrict(req.Body, &b); err != nil || len(b.Interchange) == 0 || len(b.GenesisValidatorsRoot) != 32 {
		return Result{}, ErrBadBody
	}
	if !caller.Admin {
		return Result{}, fmt.Errorf("%w: slashing-protection import is for admin clients", ErrUnauthorized)
	}
	f, err := slashing.ParseInterchange(b.Interchange)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrInterchange, err)
	}
	gvr := [32]byte(f.GenesisValidatorsRoot)
	if !bytes.Equal(gvr[:], b.GenesisValidatorsRoot) {
		return Result{}, fmt.Errorf("%w: %w: file 0x%x, chain 0x%x", ErrInterchange, slashing.ErrGenesisMismatch, gvr[:], b.GenesisValidatorsRoot)
	}
	staged := map[slashing.Pubkey]*slashing.History{}
	var order []slashing.Pubkey
	for _, e := range f.Data {
		h, ok := staged[e.Pubkey]
		if !ok {
			if h, err = loadHistory(o, gvr, e.Pubkey); err != nil {
				return Result{}, err
			}
			staged[e.Pubkey] = h
			order = append(order, e.Pubkey)
		}
		if err := h.Merge(a.policy(), e); err != nil {
			return Result{}, fmt.Errorf("%w: %w", ErrInterchange, err)
		}
	}
	for _, pk := range order {
		if err := storeHistory(o, gvr, pk, staged[pk]); err != nil {
			return Result{}, err
		}
	}
	return Result{}, nil
}

// maxExportBytes bounds an exported interchange file (it is carried in a
// committed result).
const maxExportBytes = 8 << 20

// execSlashingExport writes the interchange file of one chain (admin
// only), as of this point of the log.
func (a *App) execSlashingExport(o *overlay, req *wire.Request, caller *ClientInfo) (Result, error) {
	var b wire.SlashingExportBody
	if err := decodeStrict(req.Body, &b); err != nil || len(b.GenesisValidatorsRoot) != 32 {
		return Result{}, ErrBadBody
	}
	if !caller.Admin {
		return Result{}, fmt.Errorf("%w: slashing-protection export is for admin clients", ErrUnauthorized)
	}
	gvr := [32]byte(b.GenesisValidatorsRoot)
	db, err := slashing.NewDB(a.policy())
	if err != nil {
		return Result{}, err
	}
	prefix := pSlash + string(gvr[:])
	err = o.scanPrefix(prefix, func(k string, v []byte) error {
		if len(k) != len(prefix)+48 {
			return fmt.Errorf("app: corrupt slashing key %x", k)
		}
		h, err := slashing.UnmarshalHistory(v)
		if err != nil {
			return fmt.Errorf("app: corrupt slashing history: %w", err)
		}
		db.SetHistory(slashing.Validator{Pubkey: slashing.Pubkey([]byte(k[len(prefix):])), GenesisValidatorsRoot: gvr}, h)
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	mode := slashing.ExportComplete
	if b.Minimal {
		mode = slashing.ExportMinimal
	}
	out, err := db.Export(gvr, mode)
	if err != nil {
		return Result{}, err
	}
	if len(out) > maxExportBytes {
		return Result{}, fmt.Errorf("%w: export of %d bytes exceeds %d; export minimal", ErrTooLarge, len(out), maxExportBytes)
	}
	return Result{Interchange: out}, nil
}

// policy is the slashing-protection policy of the state machine:
// slashing.Minimal (see replica/app/slashing doc, "Minimal-mode caveats"),
// unless a test set another.
func (a *App) policy() slashing.Policy {
	if a.slashPolicy.Keep == 0 {
		return slashing.Minimal
	}
	return a.slashPolicy
}

// slashKey is the state key of a slashing history: "slash/" ‖ genesis
// validators root (32) ‖ pubkey (48).
func slashKey(gvr [32]byte, pk slashing.Pubkey) string {
	return pSlash + string(gvr[:]) + string(pk[:])
}

func loadHistory(o *overlay, gvr [32]byte, pk slashing.Pubkey) (*slashing.History, error) {
	v, err := o.get(slashKey(gvr, pk))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return new(slashing.History), nil
	}
	h, err := slashing.UnmarshalHistory(v)
	if err != nil {
		return nil, fmt.Errorf("app: corrupt slashing history: %w", err)
	}
	return h, nil
}

func storeHistory(o *overlay, gvr [32]byte, pk slashing.Pubkey, h *slashing.History) error {
	v, err := h.MarshalBinary()
	if err != nil {
		return fmt.Errorf("app: encode slashing history: %w", err)
	}
	o.put(slashKey(gvr, pk), v)
	return nil
}

// scanPrefix calls fn for every key with the prefix as the overlay sees it
// (committed state with the staged writes applied), in key order.
func (o *overlay) scanPrefix(prefix string, fn func(k string, v []byte) error) error {
	var keys []string
	seen := map[string]bool{}
	err := scan(o.db, prefix, func(k, _ []byte) error {
		keys = append(keys, string(k))
		seen[string(k)] = true
		return nil
	})
	if err != nil {
		return err
	}
	for k := range o.writes {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix && !seen[k] {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(x, y string) int { return bytes.Compare([]byte(x), []byte(y)) })
	for _, k := range keys {
		v, err := o.get(k)
		if err != nil {
			return err
		}
		if v == nil {
			continue
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return nil
}
