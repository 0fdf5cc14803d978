package api

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/vhsm/vhsm/chains/bitcoin"
	"github.com/vhsm/vhsm/wallet"
)

// Request bounds checked before the wallet service sees a request.
const (
	maxOutputs     = 100
	maxAmount      = 21_000_000 * 100_000_000 // satoshi
	maxFeeRate     = wallet.MaxFeeRate        // sat/vB: the wallet's one limit
	maxNoteLen     = 1000                     // characters
	maxLabelLen    = 200                      // characters
	maxIdemKeyLen  = 128
	maxPathIDLen   = 64
	idempotencyHdr = "Idempotency-Key"
)

// pathID returns the validated {name} URL parameter: 1–64 characters of
// [A-Za-z0-9._-].
func pathID(r *http.Request, name string) (string, error) {
	id := chi.URLParam(r, name)
	if !validID(id) {
		return "", invalid("the "+name+" in the path is malformed", FieldError{Field: name, Message: "must be 1–64 characters of A–Z a–z 0–9 . _ -"})
	}
	return id, nil
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > maxPathIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// idempotencyKey returns the Idempotency-Key header ("" when absent and not
// required).
func idempotencyKey(r *http.Request, required bool) (string, error) {
	vals := r.Header.Values(idempotencyHdr)
	if len(vals) == 0 {
		if required {
			return "", invalid("an Idempotency-Key header is required for this request (a retry with the same key never sends twice)",
				FieldError{Field: idempotencyHdr, Message: "required"})
		}
		return "", nil
	}
	k := vals[0]
	if len(vals) > 1 || len(k) == 0 || len(k) > maxIdemKeyLen {
		return "", invalid("malformed Idempotency-Key header", FieldError{Field: idempotencyHdr, Message: fmt.Sprintf("must be one value of 1–%d printable ASCII characters", maxIdemKeyLen)})
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return "", invalid("malformed Idempotency-Key header", FieldError{Field: idempotencyHdr, Message: "printable ASCII only, no spaces"})
		}
	}
	return k, nil
}

// checkText validates a free-text field.
func checkText(field, s string, max int, errs *[]FieldError) {
	if !utf8.ValidString(s) {
		*errs = append(*errs, FieldError{Field: field, Message: "must be valid UTF-8"})
		return
	}
	if n := utf8.RuneCountInString(s); n > max {
		*errs = append(*errs, FieldError{Field: field, Message: fmt.Sprintf("at most %d characters (got %d)", max, n)})
	}
	for _, c := range s {
		if c < 0x20 && c != '\n' && c != '\t' || c == 0x7f {
			*errs = append(*errs, FieldError{Field: field, Message: "must not contain control characters"})
			return
		}
	}
}

func (s *server) createWallet(w http.ResponseWriter, r *http.Request) {
	key, err := idempotencyKey(r, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req wallet.CreateWalletRequest
	if err := s.decodeJSON(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	var errs []FieldError
	switch req.Kind {
	case wallet.KindBitcoin, wallet.KindValidator:
	case "":
		errs = append(errs, FieldError{Field: "kind", Message: "required: bitcoin or validator"})
	default:
		errs = append(errs, FieldError{Field: "kind", Message: "must be bitcoin or validator"})
	}
	if req.Network == "" {
		errs = append(errs, FieldError{Field: "network", Message: "required"})
	} else if req.Kind == wallet.KindBitcoin {
		if _, err := bitcoin.NetworkByName(req.Network); err != nil {
			errs = append(errs, FieldError{Field: "network", Message: "unknown Bitcoin network (mainnet, testnet3, testnet4, signet, regtest)"})
		}
	}
	checkText("label", req.Label, maxLabelLen, &errs)
	if len(errs) > 0 {
		s.fail(w, r, invalid("the wallet request is invalid", errs...))
		return
	}
	req.IdempotencyKey = key
	wl, err := s.w.CreateWallet(r.Context(), req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, wl)
}

func (s *server) listWallets(w http.ResponseWriter, r *http.Request) {
	ws, err := s.w.ListWallets(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if ws == nil {
		ws = []wallet.Wallet{}
	}
	writeJSON(w, http.StatusOK, ws)
}

func (s *server) getWallet(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	wl, err := s.w.GetWallet(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, wl)
}

// addressBody is the answer of GET /v1/wallets/{id}/address.
type addressBody struct {
	WalletID string `json:"wallet_id"`
	Address  string `json:"address"`
	URI      string `json:"uri"`
}

func (s *server) address(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	addr, err := s.w.Address(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, addressBody{WalletID: id, Address: addr, URI: "bitcoin:" + addr})
}

func (s *server) addressQR(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	size := 256
	if v := r.URL.Query().Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 128 || n > 1024 {
			s.fail(w, r, invalid("size must be an integer from 128 to 1024", FieldError{Field: "size", Message: "128–1024"}))
			return
		}
		size = n
	}
	addr, err := s.w.Address(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if want := r.URL.Query().Get("address"); want != "" && want != addr {
		// A derived address of this wallet (handed out before): only the
		// wallet's own addresses are drawn, never arbitrary text.
		as, err := s.w.ListAddresses(r.Context(), id, false)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		found := false
		for _, a := range as {
			if a.Address == want {
				found = true
				break
			}
		}
		if !found {
			s.fail(w, r, invalid("address is not one of this wallet's addresses", FieldError{Field: "address", Message: "not an address of this wallet"}))
			return
		}
		addr = want
	}
	// BIP-21: bech32 addresses are case-insensitive and the upper-case form
	// fits QR alphanumeric mode (smaller code); the scheme is too.
	png, err := qrcode.Encode("BITCOIN:"+strings.ToUpper(addr), qrcode.Medium, size)
	if err != nil {
		s.fail(w, r, fmt.Errorf("qr code: %w", err))
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Content-Length", strconv.Itoa(len(png)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(png)
}

func (s *server) balance(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := s.w.Balance(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, b)
}

func (s *server) utxos(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	us, err := s.w.UTXOs(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if us == nil {
		us = []wallet.UTXO{}
	}
	writeJSON(w, http.StatusOK, us)
}

// sendRequest decodes and validates a SendRequest for wallet id: the
// outputs' addresses must belong to the wallet's network.
func (s *server) sendRequest(w http.ResponseWriter, r *http.Request) (string, wallet.SendRequest, error) {
	var req wallet.SendRequest
	id, err := pathID(r, "id")
	if err != nil {
		return "", req, err
	}
	if err := s.decodeJSON(w, r, &req, false); err != nil {
		return "", req, err
	}
	var errs []FieldError
	switch {
	case len(req.Outputs) == 0:
		errs = append(errs, FieldError{Field: "outputs", Message: "at least one output is required"})
	case len(req.Outputs) > maxOutputs:
		errs = append(errs, FieldError{Field: "outputs", Message: fmt.Sprintf("at most %d outputs", maxOutputs)})
	case req.SendMax && len(req.Outputs) != 1:
		errs = append(errs, FieldError{Field: "outputs", Message: "send_max takes exactly one output"})
	}
	if req.FeeRate < 0 || req.FeeRate > maxFeeRate {
		errs = append(errs, FieldError{Field: "fee_rate", Message: fmt.Sprintf("sat/vB from 1 to %d, or 0 for the backend's estimate", maxFeeRate)})
	}
	checkText("note", req.Note, maxNoteLen, &errs)
	var net *bitcoin.Network
	if len(req.Outputs) > 0 && len(req.Outputs) <= maxOutputs {
		wl, err := s.w.GetWallet(r.Context(), id)
		if err != nil {
			return "", req, err
		}
		if wl.Kind != wallet.KindBitcoin {
			return "", req, newProblem(ProblemUnsupported, "this wallet is not a Bitcoin wallet")
		}
		net, _ = bitcoin.NetworkByName(wl.Network)
	}
	for i, o := range req.Outputs {
		if i >= maxOutputs {
			break
		}
		f := fmt.Sprintf("outputs[%d]", i)
		switch {
		case o.Address == "":
			errs = append(errs, FieldError{Field: f + ".address", Message: "required"})
		case net != nil:
			if _, err := bitcoin.ParseAddress(o.Address, net); err != nil {
				errs = append(errs, FieldError{Field: f + ".address", Message: addressMessage(err, net.Name)})
			}
		}
		switch {
		case req.SendMax && o.Amount != 0:
			errs = append(errs, FieldError{Field: f + ".amount", Message: "must be 0 with send_max (the amount is everything minus the fee)"})
		case !req.SendMax && o.Amount <= 0:
			errs = append(errs, FieldError{Field: f + ".amount", Message: "must be a positive number of satoshi"})
		case o.Amount > maxAmount:
			errs = append(errs, FieldError{Field: f + ".amount", Message: "exceeds 21 million BTC"})
		}
	}
	if len(errs) > 0 {
		return "", req, invalid("the send request is invalid", errs...)
	}
	return id, req, nil
}

// addressMessage explains an address parse error without echoing more
// than the bitcoin package's own (client-safe) message.
func addressMessage(err error, network string) string {
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200]
	}
	return "not a valid " + network + " address: " + strings.ToValidUTF8(msg, "?")
}

func (s *server) send(w http.ResponseWriter, r *http.Request) {
	id, req, err := s.sendRequest(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	key, err := idempotencyKey(r, !req.DryRun)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	req.IdempotencyKey = key
	tx, err := s.w.Send(r.Context(), id, req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	status := http.StatusCreated
	if req.DryRun {
		status = http.StatusOK
	}
	writeJSON(w, status, tx)
}

func (s *server) transactions(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	preq, paged, err := pageQuery(r) // handlers_bump.go
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if paged {
		page, err := s.w.TransactionsPage(r.Context(), id, preq)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, page)
		return
	}
	txs, err := s.w.Transactions(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if txs == nil {
		txs = []wallet.Transaction{}
	}
	writeJSON(w, http.StatusOK, txs)
}

func (s *server) transaction(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	txID, err := pathID(r, "tx")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	tx, err := s.w.GetTransaction(r.Context(), id, txID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tx)
}

func (s *server) buildPSBT(w http.ResponseWriter, r *http.Request) {
	id, req, err := s.sendRequest(w, r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if req.DryRun {
		s.fail(w, r, invalid("dry_run does not apply to a PSBT (building one reserves nothing for long; use POST …/transactions with dry_run to review)",
			FieldError{Field: "dry_run", Message: "not allowed here"}))
		return
	}
	key, err := idempotencyKey(r, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	req.IdempotencyKey = key
	tx, err := s.w.BuildPSBT(r.Context(), id, req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, tx)
}

// maxPSBTLen bounds a base64 PSBT (the body limit bounds it too).
const maxPSBTLen = 1 << 20

func (s *server) signPSBT(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	key, err := idempotencyKey(r, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var req wallet.SignPSBTRequest
	if err := s.decodeJSON(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	switch {
	case req.PSBT == "":
		s.fail(w, r, invalid("psbt is required", FieldError{Field: "psbt", Message: "required (base64)"}))
		return
	case len(req.PSBT) > maxPSBTLen:
		s.fail(w, r, invalid("psbt is too large", FieldError{Field: "psbt", Message: "too large"}))
		return
	}
	if _, err := decodeBase64(req.PSBT); err != nil {
		s.fail(w, r, invalid("psbt is not base64", FieldError{Field: "psbt", Message: "must be standard base64"}))
		return
	}
	req.IdempotencyKey = key
	tx, err := s.w.SignPSBT(r.Context(), id, req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, tx)
}
