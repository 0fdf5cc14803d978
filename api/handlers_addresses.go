package api

import (
	"net/http"
	"strconv"

	"github.com/vhsm/vhsm/wallet"
)

// newAddressBody is the optional body of POST /v1/wallets/{id}/addresses:
// no field is defined; an empty body or {} asks for the next receive
// address.
type newAddressBody struct{}

// newAddress hands out the wallet's next unused receive address (201), or
// refuses with 409 when the gap limit is reached.
func (s *server) newAddress(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	var body newAddressBody
	if err := s.decodeJSON(w, r, &body, true); err != nil {
		s.fail(w, r, err)
		return
	}
	a, err := s.w.NewAddress(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, a)
}

// listAddresses lists the wallet's addresses; ?balance=true adds each
// one's unspent value (one UTXO listing from the chain backend).
func (s *server) listAddresses(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	balances := false
	if v := r.URL.Query().Get("balance"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.fail(w, r, invalid("balance must be true or false", FieldError{Field: "balance", Message: "true or false"}))
			return
		}
		balances = b
	}
	as, err := s.w.ListAddresses(r.Context(), id, balances)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if as == nil {
		as = []wallet.Address{}
	}
	writeJSON(w, http.StatusOK, as)
}

// descriptor returns the wallet's output descriptors and xpub.
func (s *server) descriptor(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := s.w.Descriptors(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}
