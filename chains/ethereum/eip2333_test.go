package ethereum

// Test-only EIP-2333 / EIP-2334 key derivation, used to recreate the secret
// keys behind the Lighthouse deposit vectors. Production code never derives
// keys: validator keys come from the HSM's DKG.

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/hkdf"
)

// blsOrder is r, the order of the BLS12-381 subgroups.
var blsOrder, _ = new(big.Int).SetString("73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001", 16)

// hkdfModR is EIP-2333 HKDF_mod_r (= IETF BLS KeyGen, draft v4+).
func hkdfModR(ikm []byte, keyInfo []byte) *big.Int {
	const l = 48 // ceil((3 * ceil(log2(r))) / 16)
	salt := []byte("BLS-SIG-KEYGEN-SALT-")
	ikmPad := append(append([]byte{}, ikm...), 0)                     // IKM || I2OSP(0, 1)
	info := append(append([]byte{}, keyInfo...), byte(l>>8), byte(l)) // key_info || I2OSP(L, 2)
	sk := new(big.Int)
	for sk.Sign() == 0 {
		h := sha256.Sum256(salt) // step 1: salt = H(salt)
		salt = h[:]
		okm := make([]byte, l)
		// steps 2-3: PRK = HKDF-Extract(salt, IKM || I2OSP(0, 1)); OKM = HKDF-Expand(PRK, info, L)
		if _, err := io.ReadFull(hkdf.New(sha256.New, ikmPad, salt, info), okm); err != nil {
			panic(err)
		}
		sk.Mod(new(big.Int).SetBytes(okm), blsOrder) // step 4: SK = OS2IP(OKM) mod r
	}
	return sk
}

// ikmToLamportSK is EIP-2333 IKM_to_lamport_SK: 255 chunks of 32 bytes.
func ikmToLamportSK(ikm, salt []byte) []byte {
	okm := make([]byte, 32*255)
	if _, err := io.ReadFull(hkdf.New(sha256.New, ikm, salt, nil), okm); err != nil {
		panic(err)
	}
	return okm
}

// parentSKToLamportPK is EIP-2333 parent_SK_to_lamport_PK.
func parentSKToLamportPK(parent *big.Int, index uint32) []byte {
	salt := binary.BigEndian.AppendUint32(nil, index) // I2OSP(index, 4)
	ikm := parent.FillBytes(make([]byte, 32))         // I2OSP(parent_SK, 32)
	notIKM := make([]byte, 32)
	for i := range ikm {
		notIKM[i] = ^ikm[i] // flip_bits
	}
	lamport0 := ikmToLamportSK(ikm, salt)
	lamport1 := ikmToLamportSK(notIKM, salt)
	pk := sha256.New()
	for _, l := range [][]byte{lamport0, lamport1} {
		for i := 0; i < 255; i++ {
			h := sha256.Sum256(l[32*i : 32*i+32])
			pk.Write(h[:])
		}
	}
	return pk.Sum(nil) // compressed_lamport_PK
}

// deriveChildSK is EIP-2333 derive_child_SK.
func deriveChildSK(parent *big.Int, index uint32) *big.Int {
	return hkdfModR(parentSKToLamportPK(parent, index), nil)
}

// deriveMasterSK is EIP-2333 derive_master_SK.
func deriveMasterSK(seed []byte) *big.Int {
	if len(seed) < 32 {
		panic("seed shorter than 256 bits")
	}
	return hkdfModR(seed, nil)
}

// derivePath follows an EIP-2334 path such as "m/12381/3600/0/0/0".
func derivePath(seed []byte, path string) (*big.Int, error) {
	parts := strings.Split(path, "/")
	if len(parts) == 0 || parts[0] != "m" {
		return nil, fmt.Errorf("bad path %q", path)
	}
	sk := deriveMasterSK(seed)
	for _, p := range parts[1:] {
		idx, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("bad path %q: %v", path, err)
		}
		sk = deriveChildSK(sk, uint32(idx))
	}
	return sk, nil
}

// mnemonicSeed is BIP-39 mnemonic-to-seed (ASCII mnemonics only, so NFKD is
// the identity).
func mnemonicSeed(mnemonic, passphrase string) []byte {
	seed, err := pbkdf2.Key(sha512.New, mnemonic, []byte("mnemonic"+passphrase), 2048, 64)
	if err != nil {
		panic(err)
	}
	return seed
}

func mustDec(t *testing.T, s string) *big.Int {
	t.Helper()
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		t.Fatalf("bad decimal %q", s)
	}
	return v
}

// TestEIP2333Vectors checks the derivation against the EIP's own test cases
// (ERCS/erc-2333.md "Test Cases").
func TestEIP2333Vectors(t *testing.T) {
	cases := []struct {
		seed, master string
		index        uint32
		child        string
	}{
		{"c55257c360c07c72029aebc1b53c05ed0362ada38ead3e3e9efa3708e53495531f09a6987599d18264c1e1c92f2cf141630c7a3c4ab7c81b2f001698e7463b04",
			"6083874454709270928345386274498605044986640685124978867557563392430687146096", 0,
			"20397789859736650942317412262472558107875392172444076792671091975210932703118"},
		{"3141592653589793238462643383279502884197169399375105820974944592",
			"29757020647961307431480504535336562678282505419141012933316116377660817309383", 3141592653,
			"25457201688850691947727629385191704516744796114925897962676248250929345014287"},
		{"0099FF991111002299DD7744EE3355BBDD8844115566CC55663355668888CC00",
			"27580842291869792442942448775674722299803720648445448686099262467207037398656", 4294967295,
			"29358610794459428860402234341874281240803786294062035874021252734817515685787"},
		{"d4e56740f876aef8c010b86a40d5f56745a118d0906a34e69aec8c0db1cb8fa3",
			"19022158461524446591288038168518313374041767046816487870552872741050760015818", 42,
			"31372231650479070279774297061823572166496564838472787488249775572789064611981"},
	}
	for i, c := range cases {
		seed, err := hex.DecodeString(c.seed)
		if err != nil {
			t.Fatal(err)
		}
		master := deriveMasterSK(seed)
		if master.Cmp(mustDec(t, c.master)) != 0 {
			t.Errorf("case %d: master_SK mismatch", i)
		}
		if deriveChildSK(master, c.index).Cmp(mustDec(t, c.child)) != 0 {
			t.Errorf("case %d: child_SK mismatch", i)
		}
	}
	// Test case 0's seed is BIP-39 of the "abandon ... about" mnemonic with
	// passphrase "TREZOR" (the EIP says so); this checks mnemonicSeed.
	got := hex.EncodeToString(mnemonicSeed("abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about", "TREZOR"))
	if got != cases[0].seed {
		t.Errorf("BIP-39 seed mismatch: %s", got)
	}
}
