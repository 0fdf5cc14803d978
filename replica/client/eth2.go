package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vhsm/vhsm/replica/app/slashing"
	"github.com/vhsm/vhsm/replica/eth2"
	"github.com/vhsm/vhsm/replica/wire"
)

// Ethereum validator keys: typed signing (eth2.sign) and the replicated
// slashing protection's EIP-3076 interchange.

// ErrSlashable reports a block proposal or an attestation refused by the
// replicated slashing protection (t+1 replicas gave the refusal, which
// names the conflicting record). Test with errors.Is.
var ErrSlashable = errors.New("client: refused by slashing protection")

// slashableReason is the replicas' refusal text (replica/app.ErrSlashable).
const slashableReason = "refused by slashing protection"

// GenerateValidatorKey creates a bls key marked, from its creation, as an
// Ethereum validator key: it signs typed eth2 requests only (SignEth2);
// every replica refuses raw signing with it.
func (c *Client) GenerateValidatorKey(ctx context.Context, id string) (KeyInfo, error) {
	return c.generateKey(ctx, id, wire.SchemeBLS, wire.UsageEth2Validator)
}

// MarkValidatorKey marks an existing bls key as an Ethereum validator key,
// for good (owner or admin). From the commit on, every replica refuses raw
// signing with it.
func (c *Client) MarkValidatorKey(ctx context.Context, id string) error {
	if !validID(id) {
		return fmt.Errorf("%w: key id must match [A-Za-z0-9._-]{1,64}", ErrInvalidArgument)
	}
	if err := c.exchange(ctx, wire.OpKeyValidator, wire.KeyRefBody{KeyID: id}, acceptOK(c.t)); err != nil {
		return fmt.Errorf("mark validator key: %w", err)
	}
	c.mu.Lock()
	delete(c.keys, id)
	c.mu.Unlock()
	return nil
}

// SignEth2 signs one typed Ethereum remote-signing request (the JSON body
// of the remote-signing API's sign route) with the validator key id, and
// returns the 96-byte signature, verified under the key's group key over
// the signing root this client computes itself (replica/eth2); the
// replicas compute the same root independently and sign nothing else. A
// block proposal or an attestation is decided by the log's slashing
// protection and sent to every replica (with the others in flight, as one
// eth2.batch: batch_eth2.go); a refusal wraps ErrSlashable.
// Other types are routed like SignBLS (2t+1 replicas first, then a hedge).
func (c *Client) SignEth2(ctx context.Context, id string, request []byte) ([]byte, error) {
	r, err := eth2.Parse(request)
	if err != nil {
		return nil, fmt.Errorf("sign eth2: %w: %w", ErrInvalidArgument, err)
	}
	root, err := r.SigningRoot()
	if err != nil {
		return nil, fmt.Errorf("sign eth2: %w: %w", ErrInvalidArgument, err)
	}
	km, err := c.keyData(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("sign eth2: %w", err)
	}
	if km.info.Scheme != wire.SchemeBLS {
		return nil, fmt.Errorf("sign eth2: %w: key %s is %s, not bls", ErrScheme, id, km.info.Scheme)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, request); err != nil {
		return nil, fmt.Errorf("sign eth2: %w: request is not JSON", ErrInvalidArgument)
	}
	body := wire.Eth2SignBody{KeyID: id, Request: compact.Bytes()}
	var sig []byte
	spec := c.blsSpec(km, root[:], &sig)
	var out *outgoing
	var first []int // ordered and not batched: every replica at once
	if r.Slashable() != nil {
		// Ordered: gathered with the others in flight into one
		// transaction of the log, sent to 2t+1 replicas first
		// (batch_eth2.go).
		out, first, err = c.newOrderedRequest(ctx, &c.eth2q, body)
	} else {
		first = c.pick(spec.quorum(c.t), nil)
	}
	if out == nil && err == nil {
		out, err = c.newSignedRequest(ctx, wire.OpEth2Sign, body)
	}
	if err != nil {
		return nil, fmt.Errorf("sign eth2: %w", err)
	}
	if err := c.collectFrom(ctx, wire.OpEth2Sign, out, first, spec); err != nil {
		if isRejection(err, slashableReason) {
			return nil, fmt.Errorf("sign eth2: %w: %w", ErrSlashable, err)
		}
		return nil, fmt.Errorf("sign eth2: %w", err)
	}
	return sig, nil
}

// maxImportChunk bounds the interchange bytes of one import request (a
// signed request is at most wire.MaxRequestBytes, base64 included).
const maxImportChunk = 36 << 10

// ImportSlashingProtection merges an EIP-3076 interchange file into the
// replicated slashing protection of the chain gvr (admin only). The file
// is parsed strictly first: a malformed file, or one for another chain, is
// refused before anything is sent. A file too large for one request is
// sent as several, each a valid interchange file holding part of the
// records; merging is a union, so the parts merge to what the whole file
// would, and an import that failed midway can simply be run again.
func (c *Client) ImportSlashingProtection(ctx context.Context, gvr [32]byte, file []byte) error {
	f, err := slashing.ParseInterchange(file)
	if err != nil {
		return fmt.Errorf("import slashing protection: %w: %w", ErrInvalidArgument, err)
	}
	if [32]byte(f.GenesisValidatorsRoot) != gvr {
		return fmt.Errorf("import slashing protection: %w: %w: file 0x%x, chain 0x%x", ErrInvalidArgument, slashing.ErrGenesisMismatch, f.GenesisValidatorsRoot[:], gvr[:])
	}
	chunks, err := splitInterchange(f)
	if err != nil {
		return fmt.Errorf("import slashing protection: %w", err)
	}
	for _, ch := range chunks {
		if err := c.exchange(ctx, wire.OpSlashingImport, wire.SlashingImportBody{GenesisValidatorsRoot: gvr[:], Interchange: ch}, acceptOK(c.t)); err != nil {
			return fmt.Errorf("import slashing protection: %w", err)
		}
	}
	return nil
}

// splitInterchange encodes f as interchange files of at most
// maxImportChunk bytes each (one file when it fits), splitting a
// validator's records over several entries when they do not fit in one.
func splitInterchange(f *slashing.Interchange) ([][]byte, error) {
	const perEntry = 128 // records of one kind in one piece
	var pieces []slashing.InterchangeEntry
	for _, e := range f.Data {
		bs, as := e.SignedBlocks, e.SignedAttestations
		for first := true; first || len(bs) > 0 || len(as) > 0; first = false {
			p := slashing.InterchangeEntry{Pubkey: e.Pubkey}
			nb, na := min(len(bs), perEntry), min(len(as), perEntry)
			p.SignedBlocks, p.SignedAttestations = bs[:nb], as[:na]
			bs, as = bs[nb:], as[na:]
			pieces = append(pieces, p)
		}
	}
	var out [][]byte
	cur := slashing.Interchange{GenesisValidatorsRoot: f.GenesisValidatorsRoot}
	flush := func() error {
		b, err := cur.MarshalJSON()
		if err != nil {
			return err
		}
		out = append(out, b)
		cur.Data = nil
		return nil
	}
	for _, p := range pieces {
		cur.Data = append(cur.Data, p)
		b, err := cur.MarshalJSON()
		if err != nil {
			return nil, err
		}
		if len(b) > maxImportChunk && len(cur.Data) > 1 {
			cur.Data = cur.Data[:len(cur.Data)-1]
			if err := flush(); err != nil {
				return nil, err
			}
			cur.Data = []slashing.InterchangeEntry{p}
		}
	}
	if len(cur.Data) > 0 || len(out) == 0 {
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ExportSlashingProtection returns the replicated slashing protection of
// the chain gvr as an EIP-3076 interchange file (admin only), as of the
// export's place in the log: complete (every record kept, with its signing
// root) or minimal (per validator the highest slot, source and target).
// The file is taken when t+1 replicas return identical bytes.
func (c *Client) ExportSlashingProtection(ctx context.Context, gvr [32]byte, minimal bool) ([]byte, error) {
	g := newAgreement(c.t)
	var file []byte
	err := c.exchange(ctx, wire.OpSlashingExport, wire.SlashingExportBody{GenesisValidatorsRoot: gvr[:], Minimal: minimal}, func(r *round, replica int, resp *wire.Response) (bool, error) {
		if len(resp.Interchange) == 0 {
			r.culprit(replica, ReasonMalformed)
			return false, nil
		}
		g.add(replica, resp.Interchange)
		v, ok := g.value()
		if !ok {
			return false, nil
		}
		r.valid = len(g.votes[string(v)])
		markDisagreeing(r, g, v)
		file = v
		return true, nil
	})
	if err != nil {
		return nil, fmt.Errorf("export slashing protection: %w", err)
	}
	if _, err := slashing.ParseInterchange(file); err != nil {
		return nil, fmt.Errorf("export slashing protection: %w: %w", ErrInvalidResult, err)
	}
	return file, nil
}
