package api

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/vhsm/vhsm/replica/client"
	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/wallet"
)

// maxMessageBytes bounds a message to sign or a plaintext to encrypt.
const maxMessageBytes = 64 << 10

// keyBody is a key's public data as the API shows it.
type keyBody struct {
	KeyID     string `json:"key_id"`
	Scheme    string `json:"scheme"`
	Owner     string `json:"owner"`
	PublicKey string `json:"public_key"`
	Disabled  bool   `json:"disabled"`
}

func keyOf(k client.KeyInfo) keyBody {
	return keyBody{KeyID: k.KeyID, Scheme: k.Scheme, Owner: k.Owner, PublicKey: hex.EncodeToString(k.PublicKey), Disabled: k.Disabled}
}

// decodeBase64 accepts standard base64 with or without padding.
func decodeBase64(s string) ([]byte, error) {
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
}

// managedKey refuses the raw key routes a key the wallet service manages:
// a wallet's or validator's key (signing with it directly would bypass coin
// locking and fee bounds, or sign slashable messages) or the metadata key
// (it would decrypt the stored labels, notes and PSBTs).
func (s *server) managedKey(id string) error {
	if strings.HasPrefix(id, wallet.WalletKeyPrefix) || id == s.metaKey {
		return newProblem(ProblemForbidden, "key "+id+" is managed by the wallet service; use the wallet and validator routes")
	}
	return nil
}

type createKeyRequest struct {
	KeyID  string `json:"key_id"`
	Scheme string `json:"scheme"`
}

func (s *server) createKey(w http.ResponseWriter, r *http.Request) {
	var req createKeyRequest
	if err := s.decodeJSON(w, r, &req, false); err != nil {
		s.fail(w, r, err)
		return
	}
	var errs []FieldError
	if !validID(req.KeyID) {
		errs = append(errs, FieldError{Field: "key_id", Message: "must be 1–64 characters of A–Z a–z 0–9 . _ -"})
	}
	switch req.Scheme {
	case wire.SchemeSchnorr, wire.SchemeBLS, wire.SchemeSymmetric:
	default:
		errs = append(errs, FieldError{Field: "scheme", Message: "must be schnorr, bls or symmetric"})
	}
	if len(errs) > 0 {
		s.fail(w, r, invalid("the key request is invalid", errs...))
		return
	}
	if err := s.managedKey(req.KeyID); err != nil {
		s.fail(w, r, err)
		return
	}
	k, err := s.hsm.GenerateKey(r.Context(), req.KeyID, req.Scheme)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, keyOf(k))
}

func (s *server) listKeys(w http.ResponseWriter, r *http.Request) {
	ks, err := s.hsm.ListKeys(r.Context())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := make([]keyBody, 0, len(ks))
	for _, k := range ks {
		out = append(out, keyOf(k))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *server) getKey(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	k, err := s.hsm.PublicKey(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, keyOf(k))
}

type signRequest struct {
	Message    *string `json:"message"`
	MessageHex *string `json:"message_hex"`
	Taproot    bool    `json:"taproot"`
	MerkleRoot string  `json:"merkle_root"`
}

type signResponse struct {
	KeyID     string `json:"key_id"`
	Scheme    string `json:"scheme"`
	Signature string `json:"signature"`
	PublicKey string `json:"public_key,omitempty"`
}

func (s *server) signRaw(w http.ResponseWriter, r *http.Request) {
	var req signRequest
	id, ok := s.rawKeyRequest(w, r, &req)
	if !ok {
		return
	}
	var msg []byte
	var err error
	var errs []FieldError
	switch {
	case (req.Message == nil) == (req.MessageHex == nil):
		errs = append(errs, FieldError{Field: "message", Message: "give exactly one of message (base64) or message_hex"})
	case req.Message != nil:
		if msg, err = decodeBase64(*req.Message); err != nil {
			errs = append(errs, FieldError{Field: "message", Message: "must be standard base64"})
		}
	default:
		if msg, err = hex.DecodeString(*req.MessageHex); err != nil {
			errs = append(errs, FieldError{Field: "message_hex", Message: "must be hex (an even number of 0-9a-f)"})
		}
	}
	if len(msg) > maxMessageBytes {
		errs = append(errs, FieldError{Field: "message", Message: fmt.Sprintf("at most %d bytes", maxMessageBytes)})
	}
	var taproot *wire.TaprootOption
	if req.Taproot || req.MerkleRoot != "" {
		taproot = &wire.TaprootOption{}
		if req.MerkleRoot != "" {
			root, err := hex.DecodeString(req.MerkleRoot)
			if err != nil || len(root) != 32 {
				errs = append(errs, FieldError{Field: "merkle_root", Message: "must be 32 bytes of hex"})
			}
			taproot.MerkleRoot = root
		}
	}
	if len(errs) > 0 {
		s.fail(w, r, invalid("the sign request is invalid", errs...))
		return
	}
	k, err := s.hsm.PublicKey(r.Context(), id)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	resp := signResponse{KeyID: id, Scheme: k.Scheme}
	switch k.Scheme {
	case wire.SchemeSchnorr:
		sig, err := s.hsm.SignSchnorr(r.Context(), id, msg, taproot)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		resp.Signature = hex.EncodeToString(sig[:])
		resp.PublicKey = hex.EncodeToString(k.PublicKey)
		if taproot != nil {
			q, err := client.TaprootOutputKey(k.PublicKey, taproot.MerkleRoot)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			resp.PublicKey = hex.EncodeToString(q[:])
		}
	case wire.SchemeBLS:
		if taproot != nil {
			s.fail(w, r, invalid("taproot and merkle_root apply to schnorr keys only", FieldError{Field: "taproot", Message: "schnorr keys only"}))
			return
		}
		sig, err := s.hsm.SignBLS(r.Context(), id, msg)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		resp.Signature = hex.EncodeToString(sig)
		resp.PublicKey = hex.EncodeToString(k.PublicKey)
	default:
		s.fail(w, r, invalid("a "+k.Scheme+" key cannot sign; use encrypt/decrypt"))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

type encryptRequest struct {
	Plaintext *string `json:"plaintext"`
}

type encryptResponse struct {
	KeyID      string `json:"key_id"`
	Ciphertext string `json:"ciphertext"`
}

type decryptRequest struct {
	Ciphertext *string `json:"ciphertext"`
}

type decryptResponse struct {
	KeyID     string `json:"key_id"`
	Plaintext string `json:"plaintext"`
}

func (s *server) encrypt(w http.ResponseWriter, r *http.Request) {
	var req encryptRequest
	id, ok := s.rawKeyRequest(w, r, &req)
	if !ok {
		return
	}
	if req.Plaintext == nil {
		s.fail(w, r, invalid("plaintext is required", FieldError{Field: "plaintext", Message: "required (base64)"}))
		return
	}
	pt, err := decodeBase64(*req.Plaintext)
	if err != nil {
		s.fail(w, r, invalid("plaintext is not base64", FieldError{Field: "plaintext", Message: "must be standard base64"}))
		return
	}
	if len(pt) > maxMessageBytes {
		s.fail(w, r, invalid("plaintext is too large", FieldError{Field: "plaintext", Message: fmt.Sprintf("at most %d bytes", maxMessageBytes)}))
		return
	}
	ct, err := s.hsm.Encrypt(r.Context(), id, pt)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, encryptResponse{KeyID: id, Ciphertext: base64.StdEncoding.EncodeToString(ct)})
}

func (s *server) decrypt(w http.ResponseWriter, r *http.Request) {
	var req decryptRequest
	id, ok := s.rawKeyRequest(w, r, &req)
	if !ok {
		return
	}
	if req.Ciphertext == nil || strings.TrimSpace(*req.Ciphertext) == "" {
		s.fail(w, r, invalid("ciphertext is required", FieldError{Field: "ciphertext", Message: "required (base64)"}))
		return
	}
	ct, err := decodeBase64(*req.Ciphertext)
	if err != nil {
		s.fail(w, r, invalid("ciphertext is not base64", FieldError{Field: "ciphertext", Message: "must be standard base64"}))
		return
	}
	pt, err := s.hsm.Decrypt(r.Context(), id, ct)
	if err != nil {
		if errors.Is(err, client.ErrInvalidArgument) {
			err = invalid("the ciphertext is malformed", FieldError{Field: "ciphertext", Message: "not a DiSE ciphertext"})
		}
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, decryptResponse{KeyID: id, Plaintext: base64.StdEncoding.EncodeToString(pt)})
}

// rawKeyRequest reads the key id of a raw HSM route, refuses keys the
// wallet service manages, and decodes the JSON body into req. It answers
// the problem itself and reports false when the request cannot go on.
func (s *server) rawKeyRequest(w http.ResponseWriter, r *http.Request, req any) (string, bool) {
	id, err := pathID(r, "id")
	if err == nil {
		err = s.managedKey(id)
	}
	if err == nil {
		err = s.decodeJSON(w, r, req, false)
	}
	if err != nil {
		s.fail(w, r, err)
		return "", false
	}
	return id, true
}
