package dkg

import "github.com/vhsm/vhsm/threshold/group"

// MaxEncodedLen returns the length in bytes of the longest encoding
// ([Message.Marshal]) of a message of kind k that a session with parameters
// p can use, or 0 for a kind it has no use for. Only p.Group, p.N, p.T and
// p.Batch are read. A dealing that matches p is exactly
//
//	4 + 6 + 33 + 64 + Batch·(T+1)·PointLen + N·Batch·ScalarLen
//
// bytes (header, counts, ephemeral key and its proof, commitments, encrypted
// shares; see the encoding in message.go); a response holds at most one
// complaint per dealer, so at most N of 99 bytes after its 6; a timeout vote
// is 5 bytes. A caller that stores messages before applying them (the
// replicated log) refuses longer ones, which the session could only reject.
func MaxEncodedLen(p Params, k Kind) int {
	ec := group.Secp256k1()
	switch k {
	case KindDealing:
		if p.Group == nil {
			return 0
		}
		return headerLen + 6 + ec.PointLen() + proofLen() +
			p.Batch*(p.T+1)*p.Group.PointLen() + p.N*p.Batch*p.Group.ScalarLen()
	case KindResponse:
		return headerLen + 2 + p.N*(2+ec.PointLen()+proofLen())
	case KindTimeout:
		return headerLen + 1
	default:
		return 0
	}
}
