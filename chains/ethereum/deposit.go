package ethereum

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Withdrawal credential prefixes (phase0 and electra beacon-chain.md
// "Withdrawal prefixes").
const (
	BLSWithdrawalPrefix         byte = 0x00
	ETH1AddressWithdrawalPrefix byte = 0x01
	CompoundingWithdrawalPrefix byte = 0x02 // EIP-7251
)

// Amounts in Gwei.
const (
	GweiPerETH = 1_000_000_000
	// MinDepositAmount is MIN_DEPOSIT_AMOUNT (phase0 preset): 1 ETH.
	MinDepositAmount = 1 * GweiPerETH
	// MaxEffectiveBalance is phase0 MAX_EFFECTIVE_BALANCE: 32 ETH, the
	// amount of every 0x00 and 0x01 deposit this package builds.
	MaxEffectiveBalance = 32 * GweiPerETH
	// MaxEffectiveBalanceElectra is MAX_EFFECTIVE_BALANCE_ELECTRA (EIP-7251):
	// 2048 ETH, the largest deposit for 0x02 credentials.
	MaxEffectiveBalanceElectra = 2048 * GweiPerETH
)

// DefaultDepositCLIVersion is the deposit_cli_version written when a
// [DepositRequest] leaves it empty.
const DefaultDepositCLIVersion = "2.7.0"

// BLSCredentials returns 0x00 withdrawal credentials for a BLS withdrawal
// key: BLS_WITHDRAWAL_PREFIX + hash(withdrawal_pubkey)[1:]
// (phase0 validator.md "BLS_WITHDRAWAL_PREFIX").
func BLSCredentials(withdrawalPubkey Pubkey) Credentials {
	c := Credentials(sha256.Sum256(withdrawalPubkey[:]))
	c[0] = BLSWithdrawalPrefix
	return c
}

// ExecutionCredentials returns 0x01 credentials for an execution address:
// ETH1_ADDRESS_WITHDRAWAL_PREFIX + 11 zero bytes + address.
func ExecutionCredentials(addr ExecutionAddress) Credentials {
	var c Credentials
	c[0] = ETH1AddressWithdrawalPrefix
	copy(c[12:], addr[:])
	return c
}

// CompoundingCredentials returns 0x02 credentials (EIP-7251):
// COMPOUNDING_WITHDRAWAL_PREFIX + 11 zero bytes + address.
func CompoundingCredentials(addr ExecutionAddress) Credentials {
	c := ExecutionCredentials(addr)
	c[0] = CompoundingWithdrawalPrefix
	return c
}

// Prefix returns the credential type byte.
func (c Credentials) Prefix() byte { return c[0] }

// Validate checks that c has a known prefix and, for 0x01/0x02, zero padding
// in bytes 1..11.
func (c Credentials) Validate() error {
	switch c[0] {
	case BLSWithdrawalPrefix:
		return nil
	case ETH1AddressWithdrawalPrefix, CompoundingWithdrawalPrefix:
		for _, b := range c[1:12] {
			if b != 0 {
				return fmt.Errorf("%w: non-zero padding", ErrInvalidCredentials)
			}
		}
		return nil
	default:
		return fmt.Errorf("%w: unknown prefix 0x%02x", ErrInvalidCredentials, c[0])
	}
}

// CheckAmount applies this package's amount rules for the credential type:
// exactly 32 ETH for 0x00 and 0x01 (a full validator deposit; the deposit
// CLI asks for another amount only with compounding credentials); for 0x02
// (EIP-7251) any whole-Gwei amount from MIN_DEPOSIT_AMOUNT (1 ETH) to
// MAX_EFFECTIVE_BALANCE_ELECTRA (2048 ETH), the deposit CLI's
// validate_deposit_amount range.
func CheckAmount(c Credentials, amount uint64) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if c[0] == CompoundingWithdrawalPrefix {
		if amount < MinDepositAmount || amount > MaxEffectiveBalanceElectra {
			return fmt.Errorf("%w: %d Gwei outside [1, 2048] ETH", ErrInvalidAmount, amount)
		}
		return nil
	}
	if amount != MaxEffectiveBalance {
		return fmt.Errorf("%w: %d Gwei; 0x%02x credentials need exactly 32 ETH", ErrInvalidAmount, amount, c[0])
	}
	return nil
}

// DepositRequest is what [BuildDeposit] needs.
type DepositRequest struct {
	Network               Network
	KeyID                 string      // the validator key in the HSM
	Pubkey                Pubkey      // the validator's public key
	WithdrawalCredentials Credentials // see BLSCredentials, ExecutionCredentials, CompoundingCredentials
	Amount                uint64      // Gwei; see CheckAmount
	CLIVersion            string      // deposit_cli_version; empty means DefaultDepositCLIVersion
}

// DepositEntry is one element of a deposit_data-*.json file, in the format
// of the official deposit CLI, which the Staking Launchpad accepts. Hex fields
// have no 0x prefix in that format.
type DepositEntry struct {
	Pubkey                Pubkey
	WithdrawalCredentials Credentials
	Amount                uint64 // Gwei
	Signature             Signature
	DepositMessageRoot    Root
	DepositDataRoot       Root
	ForkVersion           Version
	NetworkName           string
	DepositCLIVersion     string
}

// Data returns the DepositData container of e.
func (e DepositEntry) Data() DepositData {
	return DepositData{Pubkey: e.Pubkey, WithdrawalCredentials: e.WithdrawalCredentials, Amount: e.Amount, Signature: e.Signature}
}

// BuildDeposit signs the DepositMessage for req with s, verifies the
// signature and the whole entry, and returns the deposit-file entry.
//
// Signing follows phase0 validator.md "Submit deposit": domain =
// compute_domain(DOMAIN_DEPOSIT) with the network's GENESIS_FORK_VERSION and a
// zero genesis_validators_root (deposits are fork-agnostic), signing root =
// compute_signing_root(deposit_message, domain).
func BuildDeposit(ctx context.Context, s Signer, req DepositRequest) (DepositEntry, error) {
	if err := req.Network.Validate(); err != nil {
		return DepositEntry{}, err
	}
	if err := CheckAmount(req.WithdrawalCredentials, req.Amount); err != nil {
		return DepositEntry{}, err
	}
	version := req.CLIVersion
	if version == "" {
		version = DefaultDepositCLIVersion
	}
	if !validName(version) {
		return DepositEntry{}, fmt.Errorf("%w: deposit_cli_version %q", ErrInvalidJSON, version)
	}
	msg := DepositMessage{Pubkey: req.Pubkey, WithdrawalCredentials: req.WithdrawalCredentials, Amount: req.Amount}
	msgRoot := msg.HashTreeRoot()
	_, sig, err := signTyped(ctx, s, req.KeyID, req.Pubkey, msgRoot, req.Network.DepositDomain(), depositRequest(req.Network, msg))
	if err != nil {
		return DepositEntry{}, fmt.Errorf("sign deposit: %w", err)
	}
	data := DepositData{Pubkey: req.Pubkey, WithdrawalCredentials: req.WithdrawalCredentials, Amount: req.Amount, Signature: sig}
	e := DepositEntry{
		Pubkey:                req.Pubkey,
		WithdrawalCredentials: req.WithdrawalCredentials,
		Amount:                req.Amount,
		Signature:             sig,
		DepositMessageRoot:    msgRoot,
		DepositDataRoot:       data.HashTreeRoot(),
		ForkVersion:           req.Network.GenesisForkVersion,
		NetworkName:           req.Network.Name,
		DepositCLIVersion:     version,
	}
	if err := e.Verify(req.Network); err != nil {
		return DepositEntry{}, fmt.Errorf("verify deposit: %w", err)
	}
	return e, nil
}

// Verify checks e the way the Launchpad and the deposit CLI's
// verify_deposit_data do, plus this package's amount rules: the fork version
// and network name are net's, the credentials and amount are acceptable, both
// roots match the fields, and the signature verifies under the deposit
// domain of net.
func (e DepositEntry) Verify(net Network) error {
	if e.ForkVersion != net.GenesisForkVersion {
		return fmt.Errorf("%w: fork_version %x, network %s has %x", ErrInvalidNetwork, e.ForkVersion[:], net.Name, net.GenesisForkVersion[:])
	}
	if e.NetworkName != net.Name {
		return fmt.Errorf("%w: network_name %q, want %q", ErrInvalidNetwork, e.NetworkName, net.Name)
	}
	if err := CheckAmount(e.WithdrawalCredentials, e.Amount); err != nil {
		return err
	}
	msg := DepositMessage{Pubkey: e.Pubkey, WithdrawalCredentials: e.WithdrawalCredentials, Amount: e.Amount}
	if msg.HashTreeRoot() != e.DepositMessageRoot {
		return fmt.Errorf("%w: deposit_message_root", ErrRootMismatch)
	}
	if e.Data().HashTreeRoot() != e.DepositDataRoot {
		return fmt.Errorf("%w: deposit_data_root", ErrRootMismatch)
	}
	signingRoot := ComputeSigningRoot(e.DepositMessageRoot, net.DepositDomain())
	return VerifySignature(e.Pubkey, signingRoot, e.Signature)
}

// MarshalDepositFile encodes entries exactly as the deposit CLI writes
// deposit_data-*.json (Python json.dump defaults: ", " and ": " separators,
// keys in the CLI's order, amount as a number, hex without 0x, no trailing
// newline). Names must satisfy the network-name rules, so nothing needs
// escaping.
func MarshalDepositFile(entries []DepositEntry) ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, e := range entries {
		if !validName(e.NetworkName) || !validName(e.DepositCLIVersion) {
			return nil, fmt.Errorf("%w: entry %d: bad network_name or deposit_cli_version", ErrInvalidJSON, i)
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `{"pubkey": "%x", "withdrawal_credentials": "%x", "amount": %s, "signature": "%x", `+
			`"deposit_message_root": "%x", "deposit_data_root": "%x", "fork_version": "%x", `+
			`"network_name": "%s", "deposit_cli_version": "%s"}`,
			e.Pubkey[:], e.WithdrawalCredentials[:], strconv.FormatUint(e.Amount, 10), e.Signature[:],
			e.DepositMessageRoot[:], e.DepositDataRoot[:], e.ForkVersion[:], e.NetworkName, e.DepositCLIVersion)
	}
	b.WriteByte(']')
	return b.Bytes(), nil
}

// DepositFileName is the deposit CLI's file name for a file written at t:
// "deposit_data-<unix seconds>.json".
func DepositFileName(t time.Time) string {
	return "deposit_data-" + strconv.FormatInt(t.Unix(), 10) + ".json"
}

// maxDepositFileTries bounds the names WriteDepositFile tries in one second.
const maxDepositFileTries = 1000

// WriteDepositFile verifies every entry against net ([DepositEntry.Verify]),
// then writes them to dir ("" is the current directory) in the CLI's format
// ([MarshalDepositFile]), atomically (temporary file in dir, fsync, hard link
// into place, directory fsync) and never replacing an existing file. The
// name is [DepositFileName](now), or if that exists (another deposit written
// in the same second, by this or another process)
// deposit_data-<unix seconds>-<n>.json with the smallest free n ≥ 1: the
// hard link, like open(2) with O_CREAT|O_EXCL, fails if the name exists, so
// two writers never share a name. It returns the path written. Deposit data
// is public, so the file is 0644.
func WriteDepositFile(dir string, net Network, entries []DepositEntry, now time.Time) (string, error) {
	if len(entries) == 0 {
		return "", fmt.Errorf("%w: no deposit entries", ErrInvalidJSON)
	}
	if dir == "" {
		// os.CreateTemp("") would use the system temporary directory while
		// the file belongs in the current one.
		dir = "."
	}
	for i, e := range entries {
		if err := e.Verify(net); err != nil {
			return "", fmt.Errorf("verify entry %d: %w", i, err)
		}
	}
	data, err := MarshalDepositFile(entries)
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".deposit_data-*.tmp")
	if err != nil {
		return "", fmt.Errorf("write deposit file: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write deposit file: %w", err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write deposit file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", fmt.Errorf("write deposit file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("write deposit file: %w", err)
	}
	// os.Link fails if path exists (EEXIST, as O_EXCL), so a concurrent
	// writer is never overwritten: on a clash try the next name.
	base := strings.TrimSuffix(DepositFileName(now), ".json")
	var path string
	for n := 0; ; n++ {
		if n == maxDepositFileTries {
			return "", fmt.Errorf("write deposit file: %d files named %s-*.json: %w", n, base, fs.ErrExist)
		}
		path = filepath.Join(dir, base+".json")
		if n > 0 {
			path = filepath.Join(dir, base+"-"+strconv.Itoa(n)+".json")
		}
		err := os.Link(tmp.Name(), path)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", fmt.Errorf("write deposit file: %w", err)
		}
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: not every file system syncs directories
		d.Close()
	}
	return path, nil
}

// maxDepositFile bounds a deposit file; the CLI writes ~700 bytes per entry.
const (
	maxDepositFile    = 4 << 20
	maxDepositEntries = 4096
)

// depositKeys are the fields of a deposit-file entry, as the CLI names them.
var depositKeys = keySet("pubkey", "withdrawal_credentials", "amount", "signature", "deposit_message_root",
	"deposit_data_root", "fork_version", "network_name", "deposit_cli_version")

// depositEntryJSON is the wire form; pointers detect missing fields.
type depositEntryJSON struct {
	Pubkey                *string         `json:"pubkey"`
	WithdrawalCredentials *string         `json:"withdrawal_credentials"`
	Amount                json.RawMessage `json:"amount"`
	Signature             *string         `json:"signature"`
	DepositMessageRoot    *string         `json:"deposit_message_root"`
	DepositDataRoot       *string         `json:"deposit_data_root"`
	ForkVersion           *string         `json:"fork_version"`
	NetworkName           *string         `json:"network_name"`
	DepositCLIVersion     *string         `json:"deposit_cli_version"`
}

// ParseDepositFile decodes a deposit_data-*.json document: a JSON array of
// objects with exactly the CLI's fields (keys in exact case, none repeated;
// hex with or without 0x; amount a JSON integer). It checks the form only; call [DepositEntry.Verify] with
// the intended network to check roots and signatures.
func ParseDepositFile(data []byte) ([]DepositEntry, error) {
	if len(data) > maxDepositFile {
		return nil, fmt.Errorf("%w: deposit file larger than %d bytes", ErrInvalidJSON, maxDepositFile)
	}
	if err := checkJSONKeys(data, depositKeys); err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var raw []depositEntryJSON
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidJSON, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data", ErrInvalidJSON)
	}
	if len(raw) == 0 || len(raw) > maxDepositEntries {
		return nil, fmt.Errorf("%w: %d entries", ErrInvalidJSON, len(raw))
	}
	out := make([]DepositEntry, len(raw))
	for i, r := range raw {
		e, err := r.entry()
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i, err)
		}
		out[i] = e
	}
	return out, nil
}

func (r depositEntryJSON) entry() (DepositEntry, error) {
	var e DepositEntry
	hexFields := []struct {
		name string
		val  *string
		dst  []byte
	}{
		{"pubkey", r.Pubkey, e.Pubkey[:]},
		{"withdrawal_credentials", r.WithdrawalCredentials, e.WithdrawalCredentials[:]},
		{"signature", r.Signature, e.Signature[:]},
		{"deposit_message_root", r.DepositMessageRoot, e.DepositMessageRoot[:]},
		{"deposit_data_root", r.DepositDataRoot, e.DepositDataRoot[:]},
		{"fork_version", r.ForkVersion, e.ForkVersion[:]},
	}
	for _, f := range hexFields {
		if f.val == nil {
			return DepositEntry{}, fmt.Errorf("%w: missing %s", ErrInvalidJSON, f.name)
		}
		if err := decodeHexFixed(f.dst, *f.val, false); err != nil {
			return DepositEntry{}, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	if r.Amount == nil {
		return DepositEntry{}, fmt.Errorf("%w: missing amount", ErrInvalidJSON)
	}
	// The CLI writes amount as a bare JSON integer; ParseUint64 rejects
	// strings, signs, fractions and exponents.
	amount, err := ParseUint64(string(r.Amount))
	if err != nil {
		return DepositEntry{}, fmt.Errorf("amount: %w", err)
	}
	e.Amount = amount
	if r.NetworkName == nil || !validName(*r.NetworkName) {
		return DepositEntry{}, fmt.Errorf("%w: missing or bad network_name", ErrInvalidJSON)
	}
	if r.DepositCLIVersion == nil || !validName(*r.DepositCLIVersion) {
		return DepositEntry{}, fmt.Errorf("%w: missing or bad deposit_cli_version", ErrInvalidJSON)
	}
	e.NetworkName, e.DepositCLIVersion = *r.NetworkName, *r.DepositCLIVersion
	return e, nil
}
