package node

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	cmtproto "github.com/cometbft/cometbft/api/cometbft/types/v1"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/types"
)

const testChain = "signstate-test"

func testVote(typ cmtproto.SignedMsgType, h int64, r int32, block byte, ts time.Time) *cmtproto.Vote {
	v := &cmtproto.Vote{Type: typ, Height: h, Round: r, Timestamp: ts}
	if block != 0 {
		v.BlockID = cmtproto.BlockID{Hash: make([]byte, 32), PartSetHeader: cmtproto.PartSetHeader{Total: 1, Hash: make([]byte, 32)}}
		v.BlockID.Hash[0], v.BlockID.PartSetHeader.Hash[0] = block, block
	}
	return v
}

func testProposal(h int64, r int32, block byte, ts time.Time) *cmtproto.Proposal {
	p := &cmtproto.Proposal{Type: cmtproto.ProposalType, Height: h, Round: r, PolRound: -1, Timestamp: ts,
		BlockID: cmtproto.BlockID{Hash: make([]byte, 32), PartSetHeader: cmtproto.PartSetHeader{Total: 1, Hash: make([]byte, 32)}}}
	p.BlockID.Hash[0] = block
	return p
}

func openTestPV(t *testing.T, home string) *SignerPV {
	t.Helper()
	pv, err := LoadOrGenPrivValidator(home)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pv.Close() })
	return pv
}

// TestSignerPVDoubleSignRules: FilePV's rules — regressions refused, the
// same vote re-signed identically, a vote differing only in its timestamp
// given the last signature and timestamp, a conflicting one refused — for
// votes and proposals, across a reopen; every signature verifies.
func TestSignerPVDoubleSignRules(t *testing.T) {
	home := t.TempDir()
	pv := openTestPV(t, home)
	pub, _ := pv.GetPubKey()
	t0 := time.Unix(1_700_000_000, 0).UTC()

	prop := testProposal(5, 0, 1, t0)
	if err := pv.SignProposal(testChain, prop); err != nil {
		t.Fatal(err)
	}
	if !pub.VerifySignature(types.ProposalSignBytes(testChain, prop), prop.Signature) {
		t.Fatal("proposal signature does not verify")
	}
	v := testVote(cmtproto.PrevoteType, 5, 0, 1, t0)
	if err := pv.SignVote(testChain, v, false); err != nil {
		t.Fatal(err)
	}
	if !pub.VerifySignature(types.VoteSignBytes(testChain, v), v.Signature) {
		t.Fatal("vote signature does not verify")
	}
	first := v.Signature

	// The same vote again: the same signature.
	again := testVote(cmtproto.PrevoteType, 5, 0, 1, t0)
	if err := pv.SignVote(testChain, again, false); err != nil || string(again.Signature) != string(first) {
		t.Fatalf("re-sign of the same vote: %v", err)
	}
	// Only the timestamp differs: the last signature and timestamp.
	later := testVote(cmtproto.PrevoteType, 5, 0, 1, t0.Add(time.Second))
	if err := pv.SignVote(testChain, later, false); err != nil || string(later.Signature) != string(first) || !later.Timestamp.Equal(t0) {
		t.Fatalf("re-sign with another timestamp: %v, timestamp %v", err, later.Timestamp)
	}
	// Refused: another block at the same height, round and step; a lower
	// step, round or height; a proposal at a step already passed.
	for name, f := range map[string]func() error{
		"conflicting prevote": func() error { return pv.SignVote(testChain, testVote(cmtproto.PrevoteType, 5, 0, 2, t0), false) },
		"nil prevote":         func() error { return pv.SignVote(testChain, testVote(cmtproto.PrevoteType, 5, 0, 0, t0), false) },
		"lower height":        func() error { return pv.SignVote(testChain, testVote(cmtproto.PrevoteType, 4, 3, 1, t0), false) },
		"proposal again":      func() error { return pv.SignProposal(testChain, testProposal(5, 0, 1, t0)) },
	} {
		if err := f(); err == nil {
			t.Errorf("%s: signed", name)
		}
	}
	if err := pv.SignVote(testChain, testVote(cmtproto.PrecommitType, 5, 0, 1, t0), false); err != nil {
		t.Fatal(err)
	}
	if err := pv.SignVote(testChain, testVote(cmtproto.PrevoteType, 5, 0, 1, t0), false); err == nil {
		t.Error("prevote after the precommit of the same round: signed")
	}
	if err := pv.SignVote(testChain, testVote(cmtproto.PrevoteType, 5, 1, 2, t0), false); err != nil {
		t.Fatalf("next round: %v", err)
	}

	// Reopened, the state is the last one.
	pv.Close()
	pv = openTestPV(t, home)
	if err := pv.SignVote(testChain, testVote(cmtproto.PrevoteType, 5, 1, 3, t0), false); err == nil {
		t.Error("after reopening: conflicting prevote signed")
	}
	if err := pv.SignVote(testChain, testVote(cmtproto.PrevoteType, 5, 0, 9, t0), false); err == nil {
		t.Error("after reopening: lower round signed")
	}
	re := testVote(cmtproto.PrevoteType, 5, 1, 2, t0)
	if err := pv.SignVote(testChain, re, false); err != nil || !pub.VerifySignature(types.VoteSignBytes(testChain, re), re.Signature) {
		t.Fatalf("after reopening: re-sign of the last vote: %v", err)
	}
	// Closed: nothing more is signed.
	pv.Close()
	if err := pv.SignVote(testChain, testVote(cmtproto.PrevoteType, 9, 0, 1, t0), false); err == nil {
		t.Error("signed after Close")
	}
}

// TestSignStateTornSlot: a torn latest slot falls back to the one before
// (whose signature is the last that left); both torn, or a file of the
// wrong size, is refused; a file of zeros (created, never written) is an
// empty state.
func TestSignStateTornSlot(t *testing.T) {
	home := t.TempDir()
	pv := openTestPV(t, home)
	t0 := time.Unix(1_700_000_000, 0).UTC()
	for h := int64(1); h <= 3; h++ {
		if err := pv.SignVote(testChain, testVote(cmtproto.PrevoteType, h, 0, 1, t0), false); err != nil {
			t.Fatal(err)
		}
	}
	latestSeq := pv.state.seq
	pv.Close()
	path := filepath.Join(home, SignStateFile)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 2*slotSize {
		t.Fatalf("file of %d bytes", len(b))
	}
	latest := int(latestSeq%2) * slotSize
	torn := append([]byte(nil), b...)
	torn[latest+40] ^= 0xff // inside the latest slot's data
	if err := os.WriteFile(path, torn, 0o600); err != nil {
		t.Fatal(err)
	}
	pv = openTestPV(t, home)
	if pv.state.st.Height != 2 {
		t.Fatalf("torn latest slot: recovered height %d, want 2", pv.state.st.Height)
	}
	// Height 3 was never released in this story (the crash tore its
	// write): signing it again is allowed; height 1 is not.
	if err := pv.SignVote(testChain, testVote(cmtproto.PrevoteType, 1, 0, 2, t0), false); err == nil {
		t.Error("lower height signed after recovery")
	}
	pv.Close()

	both := append([]byte(nil), b...)
	both[40] ^= 0xff
	both[slotSize+40] ^= 0xff
	for name, content := range map[string][]byte{"both slots torn": both, "short file": b[:slotSize], "long file": append(b, 0)} {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadOrGenPrivValidator(home); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	if err := os.WriteFile(path, make([]byte, 2*slotSize), 0o600); err != nil {
		t.Fatal(err)
	}
	pv = openTestPV(t, home)
	if pv.state.st.Height != 0 {
		t.Fatalf("zero file: height %d", pv.state.st.Height)
	}
}

// TestSignStateMigratesFilePV: a home of an earlier version (FilePV's JSON
// state) starts from that state: no lower or conflicting signature.
func TestSignStateMigratesFilePV(t *testing.T) {
	home := t.TempDir()
	for _, d := range []string{"config", "data"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	fpv, err := privval.LoadOrGenFilePV(filepath.Join(home, PrivValKey), filepath.Join(home, PrivValState), nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1_700_000_000, 0).UTC()
	old := testVote(cmtproto.PrecommitType, 7, 2, 1, t0)
	if err := fpv.SignVote(testChain, old, false); err != nil {
		t.Fatal(err)
	}
	pv := openTestPV(t, home)
	if pub, _ := pv.GetPubKey(); string(pub.Bytes()) != string(fpv.Key.PubKey.Bytes()) {
		t.Fatal("another validator key")
	}
	for name, v := range map[string]*cmtproto.Vote{
		"conflicting precommit": testVote(cmtproto.PrecommitType, 7, 2, 2, t0),
		"lower round":           testVote(cmtproto.PrevoteType, 7, 1, 1, t0),
	} {
		if err := pv.SignVote(testChain, v, false); err == nil {
			t.Errorf("%s signed after migration", name)
		}
	}
	same := testVote(cmtproto.PrecommitType, 7, 2, 1, t0)
	if err := pv.SignVote(testChain, same, false); err != nil || string(same.Signature) != string(old.Signature) {
		t.Fatalf("re-sign of the migrated vote: %v", err)
	}
	// A damaged legacy state is refused, not reset.
	home2 := t.TempDir()
	os.MkdirAll(filepath.Join(home2, "data"), 0o700)
	os.MkdirAll(filepath.Join(home2, "config"), 0o700)
	if err := os.WriteFile(filepath.Join(home2, PrivValState), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrGenPrivValidator(home2); !errors.Is(err, ErrConfig) {
		t.Fatalf("damaged legacy state: %v", err)
	}
}

// FuzzDecodeSlot: any bytes decode to a state or to nothing, and a decoded
// state encodes back to the same slot.
func FuzzDecodeSlot(f *testing.F) {
	s, _ := encodeSlot(3, &signState{Height: 9, Round: 1, Step: 2, Signature: make([]byte, 64), SignBytes: []byte("sign bytes")})
	f.Add(s)
	f.Add(make([]byte, slotSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		seq, st, ok := decodeSlot(b)
		if !ok {
			return
		}
		again, err := encodeSlot(seq, st)
		if err != nil || string(again[:len(again)]) != string(b) {
			// Bytes after the checksum are padding and not covered.
			end := slotHeader + len(st.Signature) + len(st.SignBytes) + 32
			if err != nil || string(again[:end]) != string(b[:end]) {
				t.Fatalf("decoded slot does not encode back: %v", err)
			}
		}
	})
}
