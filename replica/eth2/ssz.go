package eth2

import (
	"crypto/sha256"
	"encoding/binary"
	"math/bits"
)

// SSZ merkleization (consensus-specs ssz/simple-serialize.md, "Merkleization").
// Every function here is total: inputs are already validated for length by the
// decoder, so nothing can fail.

const maxDepth = 64

// zeroHashes[i] is the root of a complete tree of depth i whose leaves are all
// zero chunks.
var zeroHashes = func() [maxDepth + 1][32]byte {
	var z [maxDepth + 1][32]byte
	for i := 1; i <= maxDepth; i++ {
		z[i] = hashPair(z[i-1], z[i-1])
	}
	return z
}()

func hashPair(a, b [32]byte) [32]byte {
	var buf [64]byte
	copy(buf[:32], a[:])
	copy(buf[32:], b[:])
	return sha256.Sum256(buf[:])
}

// depthFor is ceil(log2(n)) for n >= 1 (0 for n <= 1).
func depthFor(n uint64) int {
	if n <= 1 {
		return 0
	}
	return bits.Len64(n - 1)
}

// merkleize is merkleize(chunks, limit): the chunks are padded with zero
// chunks to next_pow_of_two(limit) leaves. The caller guarantees
// len(chunks) <= limit (limit >= 1 is implied for containers; limit 0 is
// treated as 1, as the spec's zero-length list of limit 0 hashes to a zero
// chunk).
func merkleize(chunks [][32]byte, limit uint64) [32]byte {
	if uint64(len(chunks)) > limit {
		// Unreachable with validated input; never return a root for a
		// value that is out of bounds.
		panic("eth2: merkleize: more chunks than limit")
	}
	depth := depthFor(limit)
	if len(chunks) == 0 {
		return zeroHashes[depth]
	}
	layer := make([][32]byte, len(chunks))
	copy(layer, chunks)
	for d := 0; d < depth; d++ {
		next := make([][32]byte, (len(layer)+1)/2)
		for i := range next {
			left := layer[2*i]
			right := zeroHashes[d]
			if 2*i+1 < len(layer) {
				right = layer[2*i+1]
			}
			next[i] = hashPair(left, right)
		}
		layer = next
	}
	return layer[0]
}

// mixInLength is mix_in_length(root, length).
func mixInLength(root [32]byte, length uint64) [32]byte {
	var l [32]byte
	binary.LittleEndian.PutUint64(l[:8], length)
	return hashPair(root, l)
}

// container is hash_tree_root of a container whose field roots are given in
// order.
func container(fields ...[32]byte) [32]byte {
	return merkleize(fields, uint64(len(fields)))
}

// uint64Root is hash_tree_root(uint64).
func uint64Root(v uint64) [32]byte {
	var c [32]byte
	binary.LittleEndian.PutUint64(c[:8], v)
	return c
}

// pack packs bytes into 32-byte chunks, right-padding the last one.
func pack(b []byte) [][32]byte {
	out := make([][32]byte, (len(b)+31)/32)
	for i := range out {
		copy(out[i][:], b[32*i:])
	}
	return out
}

// bytesRoot is hash_tree_root of a ByteVector[len(b)] (Bytes4, Bytes20,
// Bytes32, Bytes48, Bytes96, Bytes256...).
func bytesRoot(b []byte) [32]byte {
	return merkleize(pack(b), uint64((len(b)+31)/32))
}

// byteListRoot is hash_tree_root of a ByteList[max].
func byteListRoot(b []byte, max uint64) [32]byte {
	return mixInLength(merkleize(pack(b), (max+31)/32), uint64(len(b)))
}

// uint64ListRoot is hash_tree_root of a List[uint64, max].
func uint64ListRoot(v []uint64, max uint64) [32]byte {
	buf := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(buf[8*i:], x)
	}
	return mixInLength(merkleize(pack(buf), (max*8+31)/32), uint64(len(v)))
}

// listRoot is hash_tree_root of a List[composite, max] given the element
// roots.
func listRoot(roots [][32]byte, max uint64) [32]byte {
	return mixInLength(merkleize(roots, max), uint64(len(roots)))
}

// Bitlist is an SSZ Bitlist in its serialized form: the bits little-endian in
// each byte, followed by one delimiting 1 bit. The decoder validates it.
type Bitlist []byte

// bitLen returns the number of bits before the delimiter; b is validated
// (non-empty, last byte non-zero).
func (b Bitlist) bitLen() uint64 {
	last := b[len(b)-1]
	return uint64(8*(len(b)-1) + bits.Len8(last) - 1)
}

// root is hash_tree_root(Bitlist[max]).
func (b Bitlist) root(max uint64) [32]byte {
	n := b.bitLen()
	data := make([]byte, (n+7)/8)
	copy(data, b)
	if n%8 != 0 {
		// The delimiter shares the last data byte: clear it. (When n is a
		// multiple of 8 the delimiter is alone in the dropped last byte.)
		data[len(data)-1] &^= 1 << (n % 8)
	}
	return mixInLength(merkleize(pack(data), (max+255)/256), n)
}

// bitvectorRoot is hash_tree_root(Bitvector[8*len(b)]).
func bitvectorRoot(b []byte) [32]byte {
	return merkleize(pack(b), uint64((8*len(b)+255)/256))
}

// uint256Root is hash_tree_root(uint256) of a little-endian value.
func uint256Root(le [32]byte) [32]byte { return le }
