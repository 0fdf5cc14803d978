package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/vhsm/vhsm/chains/ethereum"
	"github.com/vhsm/vhsm/replica/client"
)

// SlashingProtection is what the slashing-protection routes need of the
// HSM client: EIP-3076 interchange import and export of the replicated
// slashing protection (admin requests, ordered by the replicas).
// *client.Client implements it; an HSM without it answers these routes
// with an unsupported problem.
type SlashingProtection interface {
	ImportSlashingProtection(ctx context.Context, gvr [32]byte, file []byte) error
	ExportSlashingProtection(ctx context.Context, gvr [32]byte, minimal bool) ([]byte, error)
}

var _ SlashingProtection = (*client.Client)(nil)

// slashingNetwork resolves the required network query parameter.
func (s *server) slashingNetwork(r *http.Request) (ethereum.Network, error) {
	name := r.URL.Query().Get("network")
	if name == "" {
		return ethereum.Network{}, invalid("the network is required", FieldError{Field: "network", Message: "required query parameter (an Ethereum network name, e.g. hoodi)"})
	}
	n, err := s.w.EthereumNetwork(name)
	if err != nil || !validID(name) {
		return ethereum.Network{}, invalid("unknown network", FieldError{Field: "network", Message: "unknown network"})
	}
	return n, nil
}

func (s *server) slashingProtection() (SlashingProtection, error) {
	sp, ok := s.hsm.(SlashingProtection)
	if !ok {
		return nil, newProblem(ProblemUnsupported, "the HSM client does not keep slashing protection")
	}
	return sp, nil
}

// importSlashing merges an EIP-3076 interchange file (the body) into the
// replicated slashing protection of the network's chain.
func (s *server) importSlashing(w http.ResponseWriter, r *http.Request) {
	n, err := s.slashingNetwork(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sp, err := s.slashingProtection()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	body, err := s.readBody(w, r, false)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	// The client parses the file strictly (EIP-3076 format version 5) and
	// refuses one of another chain before sending anything.
	if err := sp.ImportSlashingProtection(r.Context(), [32]byte(n.GenesisValidatorsRoot), body); err != nil {
		s.fail(w, r, slashingErr(err))
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"network": n.Name, "status": "imported"})
}

// exportSlashing returns the replicated slashing protection of the
// network's chain as an EIP-3076 interchange file.
func (s *server) exportSlashing(w http.ResponseWriter, r *http.Request) {
	n, err := s.slashingNetwork(r)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	minimal := false
	if v := r.URL.Query().Get("minimal"); v != "" {
		if minimal, err = strconv.ParseBool(v); err != nil {
			s.fail(w, r, invalid("minimal must be true or false", FieldError{Field: "minimal", Message: "true or false"}))
			return
		}
	}
	sp, err := s.slashingProtection()
	if err != nil {
		s.fail(w, r, err)
		return
	}
	file, err := sp.ExportSlashingProtection(r.Context(), [32]byte(n.GenesisValidatorsRoot), minimal)
	if err != nil {
		s.fail(w, r, slashingErr(err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", `attachment; filename="slashing-protection-`+n.Name+`.json"`)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(file)
}

// slashingErr names the cause of an HSM refusal of an import or export as
// unauthorized: the service's HSM client is not an HSM admin.
func slashingErr(err error) error {
	var rej *client.RejectedError
	if errors.As(err, &rej) && strings.Contains(strings.ToLower(rej.Reason), "unauthorized") {
		return newProblem(ProblemForbidden, "the wallet service's HSM client is not an HSM admin client; slashing-protection import and export need one")
	}
	return err
}
