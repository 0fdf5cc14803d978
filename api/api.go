package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/wallet"
)

// Wallets is what the API needs from the wallet service; *wallet.Service
// implements it. Every error wraps one of the wallet package's sentinels.
type Wallets interface {
	CreateWallet(ctx context.Context, req wallet.CreateWalletRequest) (*wallet.Wallet, error)
	ListWallets(ctx context.Context) ([]wallet.Wallet, error)
	GetWallet(ctx context.Context, id string) (*wallet.Wallet, error)
	Address(ctx context.Context, id string) (string, error)
	NewAddress(ctx context.Context, id string) (*wallet.Address, error)
	ListAddresses(ctx context.Context, id string, balances bool) ([]wallet.Address, error)
	Descriptors(ctx context.Context, id string) (*wallet.Descriptors, error)
	Balance(ctx context.Context, id string) (*wallet.Balance, error)
	UTXOs(ctx context.Context, id string) ([]wallet.UTXO, error)
	Send(ctx context.Context, walletID string, req wallet.SendRequest) (*wallet.Transaction, error)
	BuildPSBT(ctx context.Context, walletID string, req wallet.SendRequest) (*wallet.Transaction, error)
	SignPSBT(ctx context.Context, walletID string, req wallet.SignPSBTRequest) (*wallet.Transaction, error)
	Transactions(ctx context.Context, walletID string) ([]wallet.Transaction, error)
	GetTransaction(ctx context.Context, walletID, txID string) (*wallet.Transaction, error)
	FeeEstimates(ctx context.Context, network string) (*wallet.FeeEstimates, error)
	Bump(ctx context.Context, walletID, txID string, req wallet.BumpRequest) (*wallet.Transaction, error)
	TransactionsPage(ctx context.Context, walletID string, req wallet.TxPageRequest) (*wallet.TxPage, error)

	CreateWebhook(ctx context.Context, req wallet.CreateWebhookRequest) (*wallet.Webhook, error)
	ListWebhooks(ctx context.Context, walletID string) ([]wallet.Webhook, error)
	GetWebhook(ctx context.Context, id string) (*wallet.Webhook, error)
	DeleteWebhook(ctx context.Context, id string) error
	WebhookDeliveries(ctx context.Context, id string) ([]wallet.WebhookDelivery, error)

	CreateValidator(ctx context.Context, req wallet.CreateValidatorRequest) (*wallet.Validator, error)
	GetValidator(ctx context.Context, id string) (*wallet.Validator, error)
	ListValidators(ctx context.Context) ([]wallet.Validator, error)
	DepositData(ctx context.Context, id string, req wallet.DepositDataRequest) (ethereum.DepositEntry, error)
	Exit(ctx context.Context, id string, req wallet.ExitRequest) (ethereum.SignedVoluntaryExit, error)
	SetValidatorIndex(ctx context.Context, id string, index uint64) (*wallet.Validator, error)
	EthereumNetwork(name string) (ethereum.Network, error)

	CreateToken(ctx context.Context, name string, scopes []string, ttl time.Duration) (string, wallet.Token, error)
	Authenticate(ctx context.Context, secret string) (wallet.Token, error)
	ListTokens(ctx context.Context) ([]wallet.Token, error)
	RevokeToken(ctx context.Context, id string) error
}

// HSM is what the raw key routes and /readyz need from the threshold HSM
// client; *client.Client implements it.
type HSM interface {
	GenerateKey(ctx context.Context, id, scheme string) (client.KeyInfo, error)
	PublicKey(ctx context.Context, id string) (client.KeyInfo, error)
	ListKeys(ctx context.Context) ([]client.KeyInfo, error)
	SignSchnorr(ctx context.Context, id string, msg []byte, taproot *wire.TaprootOption) ([64]byte, error)
	SignBLS(ctx context.Context, id string, msg []byte) ([]byte, error)
	Encrypt(ctx context.Context, id string, plaintext []byte) ([]byte, error)
	Decrypt(ctx context.Context, id string, ciphertext []byte) ([]byte, error)
	Status(ctx context.Context) []client.ReplicaStatus
	Threshold() (n, t int)
}

var (
	_ HSM     = (*client.Client)(nil)
	_ Wallets = (*wallet.Service)(nil)
)

// RateLimit is a token bucket per API token: Rate requests per second on
// average, bursts of Burst.
type RateLimit struct {
	Rate  float64
	Burst int
}

// Defaults.
const (
	DefaultMaxBodyBytes = 1 << 20 // 1 MiB
	DefaultRate         = 20      // requests/s per token
	DefaultBurst        = 40
)

// Config configures [New].
type Config struct {
	// Wallets is the wallet service (required).
	Wallets Wallets
	// HSM is the threshold HSM client for the raw key routes and /readyz
	// (required; normally the *client.Client the wallet service uses).
	HSM HSM
	// Logger receives one line per failed request and every internal
	// error (default: discard).
	Logger *slog.Logger
	// RateLimit per token; zero fields take DefaultRate and DefaultBurst.
	RateLimit RateLimit
	// MaxBodyBytes bounds a request body (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// Metrics collects the Prometheus metrics served at /metrics; create it
	// with [NewMetrics] before the HSM client so that its culprit handler
	// can be passed to client.New. Nil means a fresh registry.
	Metrics *Metrics
	// Web, when set, serves GET and HEAD of the paths the API does not
	// route (the web wallet). If it has a Serves(path string) bool method
	// (web.Handler does), paths it does not serve get problem+json.
	Web http.Handler
	// MetadataKeyID is the wallet service's metadata key (default
	// wallet.DefaultMetadataKeyID). The raw key routes refuse it and every
	// wallet key (wallet.WalletKeyPrefix).
	MetadataKeyID string
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// server holds the handlers' dependencies.
type server struct {
	w       Wallets
	hsm     HSM
	log     *slog.Logger
	maxBody int64
	metrics *Metrics
	limits  *limiter // per token
	fails   *limiter // failed authentications per client address
	now     func() time.Time
	metaKey string // the wallet service's metadata key id
}

// New returns the API's HTTP handler.
func New(cfg Config) (http.Handler, error) {
	if cfg.Wallets == nil {
		return nil, errors.New("api: Config.Wallets is required")
	}
	if cfg.HSM == nil {
		return nil, errors.New("api: Config.HSM is required")
	}
	s := &server{w: cfg.Wallets, hsm: cfg.HSM, log: cfg.Logger, maxBody: cfg.MaxBodyBytes, metrics: cfg.Metrics, now: cfg.Now}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.metrics == nil {
		s.metrics = NewMetrics(nil)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.metaKey = cfg.MetadataKeyID
	if s.metaKey == "" {
		s.metaKey = wallet.DefaultMetadataKeyID
	}
	rl := cfg.RateLimit
	if rl.Rate <= 0 {
		rl.Rate = DefaultRate
	}
	if rl.Burst <= 0 {
		rl.Burst = DefaultBurst
	}
	s.limits = newLimiter(rl.Rate, rl.Burst, s.now)
	s.fails = newLimiter(1, 20, s.now) // 20 failures, then one per second per address
	return s.routes(cfg.Web), nil
}

func (s *server) routes(web http.Handler) http.Handler {
	r := chi.NewRouter()
	r.Use(s.requestID, s.observe, s.recoverer, s.securityHeaders)
	notFound := func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, newProblem(ProblemNotFound, "no such route"), nil)
	}
	methodNotAllowed := func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, newProblem(ProblemMethod, r.Method+" is not allowed on this route"), nil)
	}
	r.MethodNotAllowed(methodNotAllowed)
	r.NotFound(webOrProblem(web, notFound))

	r.Get("/healthz", s.healthz)
	// Authentication, the rate limit and the scope check run per route
	// (after routing), so metrics and logs see the full route pattern.
	read := r.With(s.scope(wallet.ScopeRead))
	read.Get("/readyz", s.readyz)
	read.Get("/metrics", s.metrics.handler().ServeHTTP)
	read.Get("/openapi.json", serveOpenAPI)

	r.Route("/v1", func(r chi.Router) {
		r.NotFound(notFound)
		r.MethodNotAllowed(methodNotAllowed)
		read := r.With(s.scope(wallet.ScopeRead))
		spend := r.With(s.scope(wallet.ScopeSpend))
		admin := r.With(s.scope(wallet.ScopeAdmin))

		spend.Post("/wallets", s.createWallet)
		read.Get("/wallets", s.listWallets)
		read.Get("/wallets/{id}", s.getWallet)
		read.Get("/wallets/{id}/address", s.address)
		read.Get("/wallets/{id}/address/qr.png", s.addressQR)
		spend.Post("/wallets/{id}/addresses", s.newAddress)
		read.Get("/wallets/{id}/addresses", s.listAddresses)
		read.Get("/wallets/{id}/descriptor", s.descriptor)
		read.Get("/wallets/{id}/balance", s.balance)
		read.Get("/wallets/{id}/utxos", s.utxos)
		spend.Post("/wallets/{id}/transactions", s.send)
		read.Get("/wallets/{id}/transactions", s.transactions)
		read.Get("/wallets/{id}/transactions/{tx}", s.transaction)
		spend.Post("/wallets/{id}/transactions/{tx}/bump", s.bump)
		spend.Post("/wallets/{id}/psbt", s.buildPSBT)
		spend.Post("/wallets/{id}/psbt/sign", s.signPSBT)
		read.Get("/fee-estimates", s.feeEstimates)

		spend.Post("/validators", s.createValidator)
		read.Get("/validators", s.listValidators)
		read.Get("/validators/{id}", s.getValidator)
		spend.Post("/validators/{id}/deposit-data", s.depositData)
		spend.Post("/validators/{id}/exit", s.exit)
		spend.Post("/validators/exits", s.exits)
		admin.Put("/validators/{id}/index", s.setValidatorIndex)

		admin.Post("/keys", s.createKey)
		read.Get("/keys", s.listKeys)
		read.Get("/keys/{id}", s.getKey)
		spend.Post("/keys/{id}/sign", s.signRaw)
		spend.Post("/keys/{id}/encrypt", s.encrypt)
		spend.Post("/keys/{id}/decrypt", s.decrypt)
		spend.Post("/keys/{id}/bls-to-execution-change", s.blsToExecutionChange)

		admin.Post("/eth/slashing-protection/import", s.importSlashing)
		admin.Get("/eth/slashing-protection/export", s.exportSlashing)

		admin.Post("/tokens", s.createToken)
		admin.Get("/tokens", s.listTokens)
		admin.Delete("/tokens/{id}", s.revokeToken)

		// Webhooks are admin-only: a webhook makes the server send requests
		// to a URL of the caller's choosing (SSRF; see docs/SECURITY.md).
		admin.Post("/webhooks", s.createWebhook)
		admin.Get("/webhooks", s.listWebhooks)
		admin.Get("/webhooks/{id}", s.getWebhook)
		admin.Delete("/webhooks/{id}", s.deleteWebhook)
		admin.Get("/webhooks/{id}/deliveries", s.webhookDeliveries)
	})
	return r
}

// webServer is implemented by a web handler that can tell which paths it
// serves (web.Handler does).
type webServer interface {
	Serves(urlPath string) bool
}

// webOrProblem is the handler of every path the API does not route: GET
// and HEAD of a path the web wallet serves go to it; everything else is a
// problem+json answer (404, or 405 for another method on a web page), so
// that API clients never get a plain-text error.
func webOrProblem(web http.Handler, notFound http.HandlerFunc) http.HandlerFunc {
	if web == nil {
		return notFound
	}
	ws, canTell := web.(webServer)
	return func(w http.ResponseWriter, r *http.Request) {
		known := !canTell || ws.Serves(r.URL.Path)
		switch {
		case known && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			web.ServeHTTP(w, r)
		case known && canTell:
			w.Header().Set("Allow", "GET, HEAD")
			writeProblem(w, r, newProblem(ProblemMethod, r.Method+" is not allowed on this page"), nil)
		default:
			notFound(w, r)
		}
	}
}

// fail writes the problem for err, logging errors that are not the
// client's fault.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	p, known := problemOf(err)
	if !known || p.Status >= 500 {
		s.log.Warn("request_failed", "method", r.Method, "route", routePattern(r), "status", p.Status,
			"request_id", requestIDFrom(r.Context()), "err", err.Error())
	}
	if p.Status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
	}
	writeProblem(w, r, p, nil)
}
