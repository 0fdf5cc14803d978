package app

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"

	"github.com/vhsm/vhsm/replica/wire"
)

// The binary envelope of replica transactions.
//
// A DKG dealing of a batch of 128 keys is hundreds of kilobytes. In the
// JSON envelope (a [wire.Tx] whose replica payload is a JSON [DKGPayload])
// the message is base64-encoded twice, so the log carries 16/9 of its size,
// and every replica decodes it twice over in CheckTx and again in
// FinalizeBlock. Replica transactions are therefore written in a binary
// envelope:
//
//	tx      = 0xB7 ‖ uint16 replica ‖ uint8 kind ‖ uint32 len(payload) ‖ payload ‖ signature (64)
//	payload = 0x01 ‖ uint8 len(session) ‖ session ‖ message
//
// (integers big-endian; kind 1 is "dkg", 2 is [RepairKind]). Every length
// is exact: a transaction with bytes left over, a length running past the
// end, an unknown kind, an empty session or message is refused. The first
// byte tells the envelopes apart: a JSON transaction (a client request, or
// a replica transaction written before this envelope, which a restarting
// replica replays from its blocks) begins with '{' or JSON white space,
// never 0xB7, and a JSON payload with '{', never 0x01.
//
// The signature is the one of the JSON envelope, over the same logical
// fields and the cluster id: Ed25519 over replicaTxMessage(cluster,
// replica, kind, payload), payload being the binary payload above.

// Envelope constants.
const (
	replicaTxMagic      = 0xB7
	binaryPayloadFormat = 0x01
	// envelopeHeaderLen is magic, replica, kind and payload length.
	envelopeHeaderLen = 1 + 2 + 1 + 4
	// maxSessionName bounds a session name in a binary payload.
	maxSessionName = 255
)

// replicaKinds maps the kind byte of the binary envelope to the replica
// transaction kind; its index is the byte.
var replicaKinds = []string{1: "dkg", 2: RepairKind}

func kindByte(kind string) (byte, bool) {
	for b, k := range replicaKinds {
		if k != "" && k == kind {
			return byte(b), true
		}
	}
	return 0, false
}

// encodePayload returns the binary payload of a DKG message of session.
func encodePayload(p DKGPayload) ([]byte, error) {
	if len(p.Session) == 0 || len(p.Session) > maxSessionName || len(p.Message) == 0 {
		return nil, fmt.Errorf("%w: dkg payload: session of %d bytes, message of %d", ErrMalformed, len(p.Session), len(p.Message))
	}
	b := make([]byte, 0, 2+len(p.Session)+len(p.Message))
	b = append(b, binaryPayloadFormat, byte(len(p.Session)))
	b = append(b, p.Session...)
	return append(b, p.Message...), nil
}

// DecodePayload decodes the payload of a replica transaction ([DecodeTx]):
// the binary one, or the JSON [DKGPayload] of transactions written before
// it (decoded strictly, as before).
func DecodePayload(b []byte) (DKGPayload, error) {
	if len(b) == 0 || b[0] != binaryPayloadFormat {
		var p DKGPayload
		err := decodeStrict(b, &p)
		return p, err
	}
	if len(b) < 2 {
		return DKGPayload{}, fmt.Errorf("payload truncated")
	}
	n := int(b[1])
	if n == 0 || len(b) < 2+n+1 {
		return DKGPayload{}, fmt.Errorf("payload: session of %d bytes in %d", n, len(b))
	}
	return DKGPayload{Session: string(b[2 : 2+n]), Message: b[2+n:]}, nil
}

// signReplica builds the binary envelope of a replica transaction of kind
// from replica me of cluster.
func signReplica(cluster string, me int, key ed25519.PrivateKey, kind string, p DKGPayload) ([]byte, error) {
	kb, ok := kindByte(kind)
	if !ok || me < 1 || me > 0xffff {
		return nil, fmt.Errorf("%w: replica %d kind %q", ErrBadReplica, me, kind)
	}
	payload, err := encodePayload(p)
	if err != nil {
		return nil, err
	}
	sig := ed25519.Sign(key, replicaTxMessage(cluster, me, kind, payload))
	return encodeEnvelope(&wire.ReplicaTx{Replica: me, Kind: kind, Payload: payload, Signature: sig}, kb), nil
}

// encodeEnvelope writes rt (well formed: replica in 1..65535, a known kind
// kb, a 64-byte signature) in the binary envelope.
func encodeEnvelope(rt *wire.ReplicaTx, kb byte) []byte {
	b := make([]byte, envelopeHeaderLen, envelopeHeaderLen+len(rt.Payload)+ed25519.SignatureSize)
	b[0] = replicaTxMagic
	binary.BigEndian.PutUint16(b[1:3], uint16(rt.Replica))
	b[3] = kb
	binary.BigEndian.PutUint32(b[4:8], uint32(len(rt.Payload)))
	b = append(b, rt.Payload...)
	return append(b, rt.Signature...)
}

// decodeEnvelope parses a binary replica transaction strictly. It does not
// check the signature or decode the payload.
func decodeEnvelope(tx []byte) (*wire.ReplicaTx, error) {
	if len(tx) < envelopeHeaderLen+ed25519.SignatureSize || tx[0] != replicaTxMagic {
		return nil, fmt.Errorf("%w: binary envelope of %d bytes", ErrMalformed, len(tx))
	}
	replica := int(binary.BigEndian.Uint16(tx[1:3]))
	kb := int(tx[3])
	if kb >= len(replicaKinds) || replicaKinds[kb] == "" {
		return nil, fmt.Errorf("%w: replica transaction kind %d", ErrMalformed, kb)
	}
	n := binary.BigEndian.Uint32(tx[4:8])
	if uint64(n) != uint64(len(tx)-envelopeHeaderLen-ed25519.SignatureSize) {
		return nil, fmt.Errorf("%w: payload of %d bytes in a %d-byte envelope", ErrMalformed, n, len(tx))
	}
	if n == 0 || tx[envelopeHeaderLen] != binaryPayloadFormat {
		return nil, fmt.Errorf("%w: binary envelope without a binary payload", ErrMalformed)
	}
	end := envelopeHeaderLen + int(n)
	rt := &wire.ReplicaTx{
		Replica:   replica,
		Kind:      replicaKinds[kb],
		Payload:   bytes.Clone(tx[envelopeHeaderLen:end]),
		Signature: bytes.Clone(tx[end:]),
	}
	if _, err := DecodePayload(rt.Payload); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return rt, nil
}
