package api

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vhsm/vhsm/chains/bitcoin"
	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/wallet"
)

// fakeWallets is an in-memory Wallets for this package's unit and fuzz
// tests (the contract tests use the real service). err, when set, is
// returned by every wallet method; panicOn makes the named method panic.
type fakeWallets struct {
	mu      sync.Mutex
	wallets map[string]*wallet.Wallet
	tokens  map[string]wallet.Token // by secret
	txs     map[string]*wallet.Transaction
	err     error
	panicOn string
	indices map[string]int64 // validator indices recorded by SetValidatorIndex
	exits   int              // exits signed
}

const (
	fakeAdmin = "vhsm_admin-secret"
	fakeRead  = "vhsm_read-secret"
	fakeSpend = "vhsm_spend-secret"
	fakeBTC   = "w_0123456789abcdef01234567"
	fakeVal   = "w_abcdefabcdefabcdefabcdef"
)

func newFakeWallets() *fakeWallets {
	now := time.Unix(1_700_000_000, 0).UTC()
	f := &fakeWallets{wallets: map[string]*wallet.Wallet{}, tokens: map[string]wallet.Token{}, txs: map[string]*wallet.Transaction{}}
	f.tokens[fakeAdmin] = wallet.Token{ID: "tok_00000000000000a1", Name: "admin", Scopes: []string{"admin"}, CreatedAt: now}
	f.tokens[fakeRead] = wallet.Token{ID: "tok_00000000000000r1", Name: "read", Scopes: []string{"read"}, CreatedAt: now}
	f.tokens[fakeSpend] = wallet.Token{ID: "tok_00000000000000s1", Name: "spend", Scopes: []string{"spend"}, CreatedAt: now}
	f.wallets[fakeBTC] = &wallet.Wallet{ID: fakeBTC, Kind: "bitcoin", Network: "regtest", KeyID: "wallet-1", PublicKey: strings.Repeat("ab", 32),
		Address: fakeAddress(), Label: "main", CreatedAt: now}
	f.wallets[fakeVal] = &wallet.Wallet{ID: fakeVal, Kind: "validator", Network: "hoodi", KeyID: "val-1", PublicKey: strings.Repeat("cd", 48), CreatedAt: now}
	return f
}

func (f *fakeWallets) check(method string) error {
	if f.panicOn == method {
		panic("fake panic in " + method)
	}
	return f.err
}

func (f *fakeWallets) get(id string) (*wallet.Wallet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	w, ok := f.wallets[id]
	if !ok {
		return nil, fmt.Errorf("%w: no wallet %s", wallet.ErrNotFound, id)
	}
	c := *w
	return &c, nil
}

func (f *fakeWallets) CreateWallet(ctx context.Context, req wallet.CreateWalletRequest) (*wallet.Wallet, error) {
	if err := f.check("CreateWallet"); err != nil {
		return nil, err
	}
	return f.get(fakeBTC)
}
func (f *fakeWallets) ListWallets(ctx context.Context) ([]wallet.Wallet, error) {
	if err := f.check("ListWallets"); err != nil {
		return nil, err
	}
	w, _ := f.get(fakeBTC)
	return []wallet.Wallet{*w}, nil
}
func (f *fakeWallets) GetWallet(ctx context.Context, id string) (*wallet.Wallet, error) {
	if err := f.check("GetWallet"); err != nil {
		return nil, err
	}
	return f.get(id)
}
func (f *fakeWallets) Address(ctx context.Context, id string) (string, error) {
	if err := f.check("Address"); err != nil {
		return "", err
	}
	w, err := f.get(id)
	if err != nil {
		return "", err
	}
	if w.Kind != wallet.KindBitcoin {
		return "", fmt.Errorf("%w: not a Bitcoin wallet", wallet.ErrUnsupported)
	}
	return w.Address, nil
}
func (f *fakeWallets) NewAddress(ctx context.Context, id string) (*wallet.Address, error) {
	if err := f.check("NewAddress"); err != nil {
		return nil, err
	}
	w, err := f.get(id)
	if err != nil {
		return nil, err
	}
	if w.Kind != wallet.KindBitcoin {
		return nil, fmt.Errorf("%w: not a Bitcoin wallet", wallet.ErrUnsupported)
	}
	return &wallet.Address{Address: w.Address, Branch: wallet.BranchReceive, Path: "0/0", CreatedAt: w.CreatedAt}, nil
}
func (f *fakeWallets) ListAddresses(ctx context.Context, id string, balances bool) ([]wallet.Address, error) {
	if err := f.check("ListAddresses"); err != nil {
		return nil, err
	}
	w, err := f.get(id)
	if err != nil {
		return nil, err
	}
	if w.Kind != wallet.KindBitcoin {
		return nil, fmt.Errorf("%w: not a Bitcoin wallet", wallet.ErrUnsupported)
	}
	return []wallet.Address{{Address: w.Address, Branch: wallet.BranchBase, CreatedAt: w.CreatedAt}}, nil
}
func (f *fakeWallets) Descriptors(ctx context.Context, id string) (*wallet.Descriptors, error) {
	if err := f.check("Descriptors"); err != nil {
		return nil, err
	}
	w, err := f.get(id)
	if err != nil {
		return nil, err
	}
	if w.Kind != wallet.KindBitcoin {
		return nil, fmt.Errorf("%w: not a Bitcoin wallet", wallet.ErrUnsupported)
	}
	return &wallet.Descriptors{Receive: "tr([00000000]tpub/0/*)#00000000", Change: "tr([00000000]tpub/1/*)#00000000",
		Base: "tr([00000000]tpub)#00000000", XPub: "tpub", Fingerprint: "00000000", GapLimit: wallet.GapLimit}, nil
}
func (f *fakeWallets) Balance(ctx context.Context, id string) (*wallet.Balance, error) {
	if err := f.check("Balance"); err != nil {
		return nil, err
	}
	if _, err := f.get(id); err != nil {
		return nil, err
	}
	return &wallet.Balance{Confirmed: 5000, Total: 5000}, nil
}
func (f *fakeWallets) UTXOs(ctx context.Context, id string) ([]wallet.UTXO, error) {
	if err := f.check("UTXOs"); err != nil {
		return nil, err
	}
	if _, err := f.get(id); err != nil {
		return nil, err
	}
	return []wallet.UTXO{{TxID: strings.Repeat("00", 32), Vout: 1, Value: 5000, Confirmations: 3}}, nil
}
func (f *fakeWallets) tx(id string, req wallet.SendRequest, status string) (*wallet.Transaction, error) {
	if _, err := f.get(id); err != nil {
		return nil, err
	}
	now := time.Unix(1_700_000_000, 0).UTC()
	return &wallet.Transaction{ID: "tx_0123456789abcdef01234567", WalletID: id, Status: status, Direction: "out", Outputs: req.Outputs, CreatedAt: now, UpdatedAt: now}, nil
}
func (f *fakeWallets) Send(ctx context.Context, id string, req wallet.SendRequest) (*wallet.Transaction, error) {
	if err := f.check("Send"); err != nil {
		return nil, err
	}
	st := wallet.StatusBroadcast
	if req.DryRun {
		st = wallet.StatusBuilt
	}
	return f.tx(id, req, st)
}
func (f *fakeWallets) BuildPSBT(ctx context.Context, id string, req wallet.SendRequest) (*wallet.Transaction, error) {
	if err := f.check("BuildPSBT"); err != nil {
		return nil, err
	}
	return f.tx(id, req, wallet.StatusBuilt)
}
func (f *fakeWallets) SignPSBT(ctx context.Context, id string, req wallet.SignPSBTRequest) (*wallet.Transaction, error) {
	if err := f.check("SignPSBT"); err != nil {
		return nil, err
	}
	return f.tx(id, wallet.SendRequest{}, wallet.StatusSigned)
}
func (f *fakeWallets) FeeEstimates(ctx context.Context, network string) (*wallet.FeeEstimates, error) {
	if err := f.check("FeeEstimates"); err != nil {
		return nil, err
	}
	if network != "" && network != "regtest" {
		return nil, fmt.Errorf("%w: bitcoin network %q is not configured", wallet.ErrNotFound, network)
	}
	return &wallet.FeeEstimates{Network: "regtest", MaxFeeRate: wallet.MaxFeeRate, HighFeeShare: wallet.DefaultHighFeeShare,
		HighFeeFloor: wallet.DefaultHighFeeFloor, HighFeeCap: wallet.DefaultHighFeeCap, Estimates: []wallet.FeeEstimate{{TargetBlocks: 1, FeeRate: 2, Source: "fallback"},
			{TargetBlocks: 6, FeeRate: 2, Source: "fallback"}, {TargetBlocks: 144, FeeRate: 2, Source: "fallback"}}}, nil
}
func (f *fakeWallets) Transactions(ctx context.Context, id string) ([]wallet.Transaction, error) {
	if err := f.check("Transactions"); err != nil {
		return nil, err
	}
	tx, err := f.tx(id, wallet.SendRequest{}, wallet.StatusConfirmed)
	if err != nil {
		return nil, err
	}
	return []wallet.Transaction{*tx}, nil
}
func (f *fakeWallets) GetTransaction(ctx context.Context, id, txID string) (*wallet.Transaction, error) {
	if err := f.check("GetTransaction"); err != nil {
		return nil, err
	}
	if txID != "tx_0123456789abcdef01234567" {
		return nil, fmt.Errorf("%w: no transaction %s", wallet.ErrNotFound, txID)
	}
	return f.tx(id, wallet.SendRequest{}, wallet.StatusConfirmed)
}
func (f *fakeWallets) validator(id string) (*wallet.Validator, error) {
	w, err := f.get(id)
	if err != nil {
		return nil, err
	}
	if w.Kind != wallet.KindValidator {
		return nil, fmt.Errorf("%w: no validator %s", wallet.ErrNotFound, id)
	}
	v := &wallet.Validator{Wallet: *w, WithdrawalAddress: "0x" + strings.Repeat("11", 20)}
	f.mu.Lock()
	if i, ok := f.indices[id]; ok {
		v.ValidatorIndex = &i
	}
	f.mu.Unlock()
	return v, nil
}
func (f *fakeWallets) CreateValidator(ctx context.Context, req wallet.CreateValidatorRequest) (*wallet.Validator, error) {
	if err := f.check("CreateValidator"); err != nil {
		return nil, err
	}
	return f.validator(fakeVal)
}
func (f *fakeWallets) GetValidator(ctx context.Context, id string) (*wallet.Validator, error) {
	if err := f.check("GetValidator"); err != nil {
		return nil, err
	}
	return f.validator(id)
}
func (f *fakeWallets) ListValidators(ctx context.Context) ([]wallet.Validator, error) {
	if err := f.check("ListValidators"); err != nil {
		return nil, err
	}
	v, _ := f.validator(fakeVal)
	return []wallet.Validator{*v}, nil
}
func (f *fakeWallets) DepositData(ctx context.Context, id string, req wallet.DepositDataRequest) (ethereum.DepositEntry, error) {
	if err := f.check("DepositData"); err != nil {
		return ethereum.DepositEntry{}, err
	}
	if _, err := f.validator(id); err != nil {
		return ethereum.DepositEntry{}, err
	}
	return ethereum.DepositEntry{Amount: 32_000_000_000, NetworkName: "hoodi", DepositCLIVersion: "2.7.0"}, nil
}
func (f *fakeWallets) Exit(ctx context.Context, id string, req wallet.ExitRequest) (ethereum.SignedVoluntaryExit, error) {
	if err := f.check("Exit"); err != nil {
		return ethereum.SignedVoluntaryExit{}, err
	}
	if _, err := f.validator(id); err != nil {
		return ethereum.SignedVoluntaryExit{}, err
	}
	f.mu.Lock()
	f.exits++
	f.mu.Unlock()
	return ethereum.SignedVoluntaryExit{Message: ethereum.VoluntaryExit{Epoch: ethereum.Uint64(req.Epoch), ValidatorIndex: ethereum.Uint64(req.ValidatorIndex)}}, nil
}
func (f *fakeWallets) SetValidatorIndex(ctx context.Context, id string, index uint64) (*wallet.Validator, error) {
	if err := f.check("SetValidatorIndex"); err != nil {
		return nil, err
	}
	v, err := f.validator(id)
	if err != nil {
		return nil, err
	}
	i := int64(index)
	v.ValidatorIndex = &i
	f.mu.Lock()
	if f.indices == nil {
		f.indices = map[string]int64{}
	}
	f.indices[id] = i
	f.mu.Unlock()
	return v, nil
}
func (f *fakeWallets) EthereumNetwork(name string) (ethereum.Network, error) {
	return ethereum.NetworkByName(name)
}
func (f *fakeWallets) CreateToken(ctx context.Context, name string, scopes []string, ttl time.Duration) (string, wallet.Token, error) {
	if err := f.check("CreateToken"); err != nil {
		return "", wallet.Token{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	tok := wallet.Token{ID: fmt.Sprintf("tok_%016x", len(f.tokens)), Name: name, Scopes: scopes, CreatedAt: time.Unix(1_700_000_000, 0).UTC()}
	secret := fmt.Sprintf("vhsm_new-%d", len(f.tokens))
	f.tokens[secret] = tok
	return secret, tok, nil
}
func (f *fakeWallets) Authenticate(ctx context.Context, secret string) (wallet.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tok, ok := f.tokens[secret]
	if !ok || tok.RevokedAt != nil {
		return wallet.Token{}, wallet.ErrUnauthorized
	}
	return tok, nil
}
func (f *fakeWallets) ListTokens(ctx context.Context) ([]wallet.Token, error) {
	if err := f.check("ListTokens"); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []wallet.Token
	for _, t := range f.tokens {
		out = append(out, t)
	}
	return out, nil
}
func (f *fakeWallets) RevokeToken(ctx context.Context, id string) error {
	if err := f.check("RevokeToken"); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for s, t := range f.tokens {
		if t.ID == id {
			now := time.Now()
			t.RevokedAt = &now
			f.tokens[s] = t
			return nil
		}
	}
	return fmt.Errorf("%w: no token %s", wallet.ErrNotFound, id)
}

// fakeHSM answers the raw key routes from memory.
type fakeHSM struct {
	ready int
}

func (h *fakeHSM) key(id string) (client.KeyInfo, error) {
	switch id {
	case "k-schnorr":
		return client.KeyInfo{KeyID: id, Scheme: wire.SchemeSchnorr, Owner: "svc", PublicKey: make([]byte, 32)}, nil
	case "k-bls":
		return client.KeyInfo{KeyID: id, Scheme: wire.SchemeBLS, Owner: "svc", PublicKey: make([]byte, 48)}, nil
	case "k-sym":
		return client.KeyInfo{KeyID: id, Scheme: wire.SchemeSymmetric, Owner: "svc", PublicKey: make([]byte, 48)}, nil
	}
	return client.KeyInfo{}, &client.RejectedError{Op: "keys.pub", Reason: "app: unknown key: " + id, Replicas: []int{1, 2}}
}
func (h *fakeHSM) GenerateKey(ctx context.Context, id, scheme string) (client.KeyInfo, error) {
	if _, err := h.key(id); err == nil {
		return client.KeyInfo{}, &client.RejectedError{Op: "keys.gen", Reason: "app: key already exists", Replicas: []int{1, 2}}
	}
	return client.KeyInfo{KeyID: id, Scheme: scheme, Owner: "svc", PublicKey: make([]byte, 32)}, nil
}
func (h *fakeHSM) PublicKey(ctx context.Context, id string) (client.KeyInfo, error) { return h.key(id) }
func (h *fakeHSM) ListKeys(ctx context.Context) ([]client.KeyInfo, error) {
	a, _ := h.key("k-schnorr")
	b, _ := h.key("k-bls")
	return []client.KeyInfo{a, b}, nil
}
func (h *fakeHSM) SignSchnorr(ctx context.Context, id string, msg []byte, taproot *wire.TaprootOption) ([64]byte, error) {
	return [64]byte{1}, nil
}
func (h *fakeHSM) SignBLS(ctx context.Context, id string, msg []byte) ([]byte, error) {
	return make([]byte, 96), nil
}
func (h *fakeHSM) Encrypt(ctx context.Context, id string, pt []byte) ([]byte, error) {
	if _, err := h.key(id); err != nil {
		return nil, err
	}
	return append([]byte("ct:"), pt...), nil
}
func (h *fakeHSM) Decrypt(ctx context.Context, id string, ct []byte) ([]byte, error) {
	if _, err := h.key(id); err != nil {
		return nil, err
	}
	pt, ok := strings.CutPrefix(string(ct), "ct:")
	if !ok {
		return nil, fmt.Errorf("decrypt: %w", client.ErrDecrypt)
	}
	return []byte(pt), nil
}
func (h *fakeHSM) Status(ctx context.Context) []client.ReplicaStatus {
	out := make([]client.ReplicaStatus, 4)
	for i := range out {
		out[i] = client.ReplicaStatus{Replica: i + 1, Ready: i < h.ready}
	}
	return out
}
func (h *fakeHSM) Threshold() (int, int) { return 4, 1 }

// newTestHandler builds the API over fakes.
func newTestHandler(t testing.TB, fw *fakeWallets, cfg Config) http.Handler {
	t.Helper()
	cfg.Wallets = fw
	if cfg.HSM == nil {
		cfg.HSM = &fakeHSM{ready: 4}
	}
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// serve runs req through h.
func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	if req.RemoteAddr == "" {
		req.RemoteAddr = "127.0.0.1:40000"
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// fakeAddress is a valid regtest P2TR address (BIP-86 on the generator's x).
func fakeAddress() string {
	x, _ := hex.DecodeString("79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
	net, _ := bitcoin.NetworkByName("regtest")
	a, err := bitcoin.TaprootAddress(x, net)
	if err != nil {
		panic(err)
	}
	return a.EncodeAddress()
}
