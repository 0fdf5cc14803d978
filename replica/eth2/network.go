package eth2

// Known networks: the fork versions a signer needs beyond what a request
// carries. Only EIP-7044 needs them: from Deneb on a voluntary exit is signed
// with the Capella fork version, which fork_info does not carry.
// Sources: consensus-specs configs/mainnet.yaml; eth-clients/{holesky,hoodi,
// sepolia} metadata/config.yaml and genesis validators roots (see
// ../../shared vectors eth-consensus-constants.yaml).

// Network is a consensus network's genesis validators root and the fork
// version of every fork from Phase0 (the genesis fork version) to Fulu.
type Network struct {
	Name                  string
	GenesisValidatorsRoot [32]byte
	ForkVersions          [Fulu + 1][4]byte
}

func mustHex32(s string) (r [32]byte) {
	d := &dec{}
	d.fixed("const", s, r[:])
	if d.err != nil {
		panic(d.err)
	}
	return r
}

// Networks lists the built-in networks.
var Networks = []Network{
	{Name: "mainnet", GenesisValidatorsRoot: mustHex32("0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"),
		ForkVersions: [Fulu + 1][4]byte{{0, 0, 0, 0}, {1, 0, 0, 0}, {2, 0, 0, 0}, {3, 0, 0, 0}, {4, 0, 0, 0}, {5, 0, 0, 0}, {6, 0, 0, 0}}},
	{Name: "holesky", GenesisValidatorsRoot: mustHex32("0x9143aa7c615a7f7115e2b6aac319c03529df8242ae705fba9df39b79c59fa8b1"),
		ForkVersions: [Fulu + 1][4]byte{{1, 1, 0x70, 0}, {2, 1, 0x70, 0}, {3, 1, 0x70, 0}, {4, 1, 0x70, 0}, {5, 1, 0x70, 0}, {6, 1, 0x70, 0}, {7, 1, 0x70, 0}}},
	{Name: "hoodi", GenesisValidatorsRoot: mustHex32("0x212f13fc4df078b6cb7db228f1c8307566dcecf900867401a92023d7ba99cb5f"),
		ForkVersions: [Fulu + 1][4]byte{{0x10, 0, 9, 0x10}, {0x20, 0, 9, 0x10}, {0x30, 0, 9, 0x10}, {0x40, 0, 9, 0x10}, {0x50, 0, 9, 0x10}, {0x60, 0, 9, 0x10}, {0x70, 0, 9, 0x10}}},
	{Name: "sepolia", GenesisValidatorsRoot: mustHex32("0xd8ea171f3c94aea21ebc42a1ed61052acf3f9209c00e4efbaaddac09ed9b8078"),
		ForkVersions: [Fulu + 1][4]byte{{0x90, 0, 0, 0x69}, {0x90, 0, 0, 0x70}, {0x90, 0, 0, 0x71}, {0x90, 0, 0, 0x72}, {0x90, 0, 0, 0x73}, {0x90, 0, 0, 0x74}, {0x90, 0, 0, 0x75}}},
}

// NetworkByGenesisValidatorsRoot returns the built-in network with that root.
func NetworkByGenesisValidatorsRoot(gvr [32]byte) (Network, bool) {
	for _, n := range Networks {
		if n.GenesisValidatorsRoot == gvr {
			return n, true
		}
	}
	return Network{}, false
}

// forkOf returns the fork whose version is v on this network.
func (n Network) forkOf(v [4]byte) (Fork, bool) {
	for f, fv := range n.ForkVersions {
		if fv == v {
			return Fork(f), true
		}
	}
	return 0, false
}
