package client

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"testing"

	"github.com/vhsm/vhsm/replica/wire"
	"github.com/vhsm/vhsm/threshold/dise"
)

// diseFake holds real shares of a symmetric key "sym"; replicas in lie
// evaluate with a wrong share (their proofs then fail).
func diseFake(t *testing.T, lie map[int]bool) *fakeCluster {
	info, poly := testKey(t, "sym", wire.SchemeSymmetric, 1)
	_, other := testKey(t, "sym", wire.SchemeSymmetric, 1)
	return newFakeCluster(t, 4, 1, func(replica int, req wire.Request, _ []byte) fakeReply {
		switch req.Op {
		case wire.OpKeyPub:
			return fakeReply{resp: &wire.Response{Replica: replica, Key: &info}}
		case wire.OpEncrypt, wire.OpDecrypt:
			var b wire.EvalBody
			if err := json.Unmarshal(req.Body, &b); err != nil {
				t.Error(err)
			}
			in, err := dise.DecodeInput(b.Input)
			if err != nil || in.KeyID != b.KeyID || b.KeyID != "sym" {
				return fakeReply{status: 400, resp: &wire.Response{Replica: replica, Error: "bad input"}}
			}
			if req.Op == wire.OpEncrypt && in.Encryptor != wire.EncryptorID(req.Client) {
				return fakeReply{status: 403, resp: &wire.Response{Replica: replica, Error: "encryptor is not the requester"}}
			}
			share := poly.Share(replica)
			if lie[replica] {
				share = other.Share(replica)
			}
			e, err := dise.Evaluate(share, replica, b.Input, rand.Reader)
			if err != nil {
				t.Error(err)
			}
			return fakeReply{resp: &wire.Response{Replica: replica, Partial: e.Bytes()}}
		}
		return fakeReply{status: 400, resp: &wire.Response{Replica: replica, Error: "op"}}
	})
}

func TestEncryptDecrypt(t *testing.T) {
	var culprits []Culprit
	fc := diseFake(t, map[int]bool{2: true})
	c := fc.client(WithCulpritHandler(func(op string, cs []Culprit) { culprits = append(culprits, cs...) }))
	ctx := context.Background()
	pt := []byte("launch codes")
	ct, err := c.Encrypt(ctx, "sym", pt)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, pt) {
		t.Fatal("plaintext visible in ciphertext")
	}
	got, err := c.Decrypt(ctx, "sym", ct)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, pt) {
		t.Fatal("round trip changed the plaintext")
	}
	for _, cu := range culprits {
		if cu != (Culprit{2, ReasonInvalidPartial}) {
			t.Fatalf("culprits %+v", culprits)
		}
	}
	// Tampering with any byte of the body is detected.
	bad := bytes.Clone(ct)
	bad[len(bad)-1] ^= 1
	if _, err := c.Decrypt(ctx, "sym", bad); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("tampered: %v", err)
	}
	if _, err := c.Decrypt(ctx, "sym", ct[:10]); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("truncated: %v", err)
	}
	if _, err := c.Decrypt(ctx, "other", ct); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("other key: %v", err)
	}
}

func TestEncryptTooManyLiars(t *testing.T) {
	fc := diseFake(t, map[int]bool{1: true, 2: true, 3: true})
	_, err := fc.client().Encrypt(context.Background(), "sym", []byte("x"))
	var qe *QuorumError
	if !errors.As(err, &qe) || qe.Valid != 1 || len(qe.Culprits) != 3 || qe.TimedOut {
		t.Fatalf("got %v", err)
	}
}
