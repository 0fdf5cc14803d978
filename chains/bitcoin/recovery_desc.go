package bitcoin

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/vhsm/vhsm/chains/bitcoin/hd"
)

// maxDescriptorLen bounds descriptor and key-expression input before any parsing.
const maxDescriptorLen = 1024

// maxKeyPath bounds the derivation steps after an xpub in a key expression.
const maxKeyPath = 8

// DescKey is a BIP-380 key expression of a public key: an optional key origin "[fingerprint/path]",
// then a hex public key (64 hex characters x-only, or 66 compressed), or an extended public key with
// unhardened derivation steps "/NUM" and an optional final "/*". It never holds a private key.
type DescKey struct {
	origin   string                  // "[...]" as given, or ""
	key      *btcec.PublicKey        // a fixed key, or nil
	xpub     *hdkeychain.ExtendedKey // an extended public key, or nil
	xpubText string
	path     []uint32
	wildcard bool
}

// ParseDescKey parses a key expression whose extended keys belong to net. Private keys (xprv, WIF)
// and hardened steps are refused: the key expressions vhsm handles are public.
func ParseDescKey(s string, net *Network) (*DescKey, error) {
	if net == nil {
		return nil, fmt.Errorf("%w: no network", ErrRecovery)
	}
	if len(s) == 0 || len(s) > maxDescriptorLen {
		return nil, fmt.Errorf("%w: key expression length %d", ErrRecovery, len(s))
	}
	k := &DescKey{}
	if s[0] == '[' {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return nil, fmt.Errorf("%w: key origin without ']'", ErrRecovery)
		}
		if err := checkOrigin(s[1:end]); err != nil {
			return nil, err
		}
		k.origin, s = s[:end+1], s[end+1:]
	}
	parts := strings.Split(s, "/")
	if len(parts[0]) == 64 || len(parts[0]) == 66 {
		if len(parts) != 1 {
			return nil, fmt.Errorf("%w: a hex key takes no derivation path", ErrRecovery)
		}
		b, err := hex.DecodeString(parts[0])
		if err != nil {
			return nil, fmt.Errorf("%w: hex key: not hex", ErrRecovery)
		}
		var pk *btcec.PublicKey
		if len(b) == 32 {
			pk, err = schnorr.ParsePubKey(b)
		} else {
			pk, err = btcec.ParsePubKey(b)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: hex key is not a valid public key", ErrRecovery)
		}
		// Inside tr() every key is x-only (BIP-386): keep the even-Y lift, which String prints.
		if pk, err = schnorr.ParsePubKey(schnorr.SerializePubKey(pk)); err != nil {
			return nil, fmt.Errorf("%w: hex key is not a valid public key", ErrRecovery)
		}
		k.key = pk
		return k, nil
	}
	xk, err := hdkeychain.NewKeyFromString(parts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: not a hex public key or an extended public key: %v", ErrRecovery, err)
	}
	if xk.IsPrivate() {
		return nil, fmt.Errorf("%w: an extended private key was given where the public one belongs; give its xpub", ErrRecovery)
	}
	if !xk.IsForNet(net.Params) {
		return nil, fmt.Errorf("%w: extended key is not for %s", ErrRecovery, net.Name)
	}
	k.xpub, k.xpubText = xk, parts[0]
	steps := parts[1:]
	if len(steps) > maxKeyPath {
		return nil, fmt.Errorf("%w: more than %d derivation steps", ErrRecovery, maxKeyPath)
	}
	for i, st := range steps {
		if st == "*" && i == len(steps)-1 {
			k.wildcard = true
			break
		}
		n, err := strconv.ParseUint(st, 10, 32)
		if err != nil || n >= uint64(hd.HardenedOffset) || (len(st) > 1 && st[0] == '0') {
			return nil, fmt.Errorf("%w: derivation step %q: want an unhardened index below 2^31", ErrRecovery, st)
		}
		k.path = append(k.path, uint32(n))
	}
	if _, err := k.derive(0); err != nil { // every step must exist (BIP-32 invalid children are rare)
		return nil, err
	}
	return k, nil
}

// checkOrigin accepts BIP-380's origin body: 8 hex characters, then /NUM steps, hardened allowed.
func checkOrigin(o string) error {
	parts := strings.Split(o, "/")
	if len(parts[0]) != 8 {
		return fmt.Errorf("%w: key origin fingerprint must be 8 hex characters", ErrRecovery)
	}
	if _, err := hex.DecodeString(parts[0]); err != nil {
		return fmt.Errorf("%w: key origin fingerprint is not hex", ErrRecovery)
	}
	for _, st := range parts[1:] {
		st = strings.TrimRight(st, "'hH")
		if n, err := strconv.ParseUint(st, 10, 32); err != nil || n >= uint64(hd.HardenedOffset) {
			return fmt.Errorf("%w: key origin step %q", ErrRecovery, st)
		}
	}
	return nil
}

// Wildcard reports whether the expression ends in "/*" (one key per index).
func (k *DescKey) Wildcard() bool { return k.wildcard }

// Extended reports whether the expression is an extended key (and so can be derived further).
func (k *DescKey) Extended() bool { return k.xpub != nil }

// Key returns the key for index: for a wildcard expression xpub/path/index, otherwise the expression's
// one key (index is ignored).
func (k *DescKey) Key(index uint32) (*btcec.PublicKey, error) { return k.derive(index) }

func (k *DescKey) derive(index uint32) (*btcec.PublicKey, error) {
	if k.key != nil {
		return k.key, nil
	}
	path := k.Path(index)
	xk := k.xpub
	for _, n := range path {
		c, err := xk.Derive(n)
		if err != nil {
			return nil, fmt.Errorf("%w: derive step %d: %v", ErrRecovery, n, err)
		}
		xk = c
	}
	pk, err := xk.ECPubKey()
	if err != nil {
		return nil, fmt.Errorf("%w: derived key: %v", ErrRecovery, err)
	}
	return pk, nil
}

// Path returns the derivation path below the extended key for index (nil for a fixed key).
func (k *DescKey) Path(index uint32) []uint32 {
	if k.xpub == nil {
		return nil
	}
	path := append([]uint32(nil), k.path...)
	if k.wildcard {
		path = append(path, index)
	}
	return path
}

// Child returns the expression extended by steps (an unhardened branch and then "*", say): the form a
// wallet uses for its recovery xpub, xpub/branch/*. A fixed key or a wildcard expression cannot be
// extended.
func (k *DescKey) Child(wildcard bool, steps ...uint32) (*DescKey, error) {
	if k.xpub == nil || k.wildcard {
		return nil, fmt.Errorf("%w: only a non-wildcard extended key can be derived further", ErrRecovery)
	}
	if len(k.path)+len(steps) > maxKeyPath {
		return nil, fmt.Errorf("%w: more than %d derivation steps", ErrRecovery, maxKeyPath)
	}
	c := *k
	c.path = append(append([]uint32(nil), k.path...), steps...)
	c.wildcard = wildcard
	for _, s := range steps {
		if s >= hd.HardenedOffset {
			return nil, fmt.Errorf("%w: hardened step", ErrRecovery)
		}
	}
	if _, err := c.derive(0); err != nil {
		return nil, err
	}
	return &c, nil
}

// String returns the key expression in BIP-380 form. A fixed key is written as 64 hex characters
// (x-only, as tr() takes it).
func (k *DescKey) String() string {
	var b strings.Builder
	b.WriteString(k.origin)
	if k.key != nil {
		b.WriteString(hex.EncodeToString(schnorr.SerializePubKey(k.key)))
		return b.String()
	}
	b.WriteString(k.xpubText)
	for _, n := range k.path {
		fmt.Fprintf(&b, "/%d", n)
	}
	if k.wildcard {
		b.WriteString("/*")
	}
	return b.String()
}

// RecoveryDescriptor is tr(KEY,and_v(v:pk(RKEY),older(N))): a threshold internal key and a recovery
// key, both key expressions, and the timelock.
type RecoveryDescriptor struct {
	Internal *DescKey
	Recovery *DescKey
	Older    uint16
}

// String returns the descriptor with its BIP-380 checksum:
//
//	tr(KEY,and_v(v:pk(RKEY),older(N)))#checksum
func (d *RecoveryDescriptor) String() (string, error) {
	if d.Internal == nil || d.Recovery == nil || d.Older < 1 {
		return "", fmt.Errorf("%w: incomplete descriptor", ErrRecovery)
	}
	body := fmt.Sprintf("tr(%s,and_v(v:pk(%s),older(%d)))", d.Internal, d.Recovery, d.Older)
	return hd.WithChecksum(body)
}

// Ranged reports whether the descriptor has a wildcard (one output per index).
func (d *RecoveryDescriptor) Ranged() bool { return d.Internal.wildcard || d.Recovery.wildcard }

// Output returns the output at index (the index is ignored by a non-ranged descriptor).
func (d *RecoveryDescriptor) Output(index uint32) (*RecoveryOutput, error) {
	p, err := d.Internal.Key(index)
	if err != nil {
		return nil, err
	}
	k, err := d.Recovery.Key(index)
	if err != nil {
		return nil, err
	}
	leaf, err := NewRecoveryLeaf(k, uint32(d.Older))
	if err != nil {
		return nil, err
	}
	return NewRecoveryOutput(p, leaf)
}

// ParseRecoveryDescriptor parses tr(KEY,and_v(v:pk(RKEY),older(N))) with an optional "#checksum"
// (checked when present) for net. Any other descriptor shape is refused.
func ParseRecoveryDescriptor(s string, net *Network) (*RecoveryDescriptor, error) {
	s = strings.TrimSpace(s)
	if len(s) == 0 || len(s) > maxDescriptorLen {
		return nil, fmt.Errorf("%w: descriptor length %d", ErrRecovery, len(s))
	}
	if i := strings.IndexByte(s, '#'); i >= 0 {
		body, cs := s[:i], s[i+1:]
		want, err := hd.DescriptorChecksum(body)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrRecovery, err)
		}
		if cs != want {
			return nil, fmt.Errorf("%w: descriptor checksum mismatch", ErrRecovery)
		}
		s = body
	}
	const prefix, mid, suffix = "tr(", ",and_v(v:pk(", ")))"
	if !strings.HasPrefix(s, prefix) || !strings.HasSuffix(s, suffix) {
		return nil, fmt.Errorf("%w: want tr(KEY,and_v(v:pk(RKEY),older(N)))", ErrRecovery)
	}
	inner := s[len(prefix) : len(s)-len(suffix)] // KEY,and_v(v:pk(RKEY),older(N)
	i := strings.Index(inner, mid)
	if i < 0 {
		return nil, fmt.Errorf("%w: want tr(KEY,and_v(v:pk(RKEY),older(N)))", ErrRecovery)
	}
	keyText, rest := inner[:i], inner[i+len(mid):] // RKEY),older(N
	j := strings.Index(rest, "),older(")
	if j < 0 {
		return nil, fmt.Errorf("%w: want and_v(v:pk(RKEY),older(N))", ErrRecovery)
	}
	rkeyText, nText := rest[:j], rest[j+len("),older("):]
	n, err := strconv.ParseUint(nText, 10, 32)
	if err != nil || n < 1 || n > MaxRecoveryOlder || (len(nText) > 1 && nText[0] == '0') {
		return nil, fmt.Errorf("%w: older(%s): want 1..%d blocks", ErrRecovery, nText, MaxRecoveryOlder)
	}
	internal, err := ParseDescKey(keyText, net)
	if err != nil {
		return nil, fmt.Errorf("internal key: %w", err)
	}
	recovery, err := ParseDescKey(rkeyText, net)
	if err != nil {
		return nil, fmt.Errorf("recovery key: %w", err)
	}
	return &RecoveryDescriptor{Internal: internal, Recovery: recovery, Older: uint16(n)}, nil
}
