// Package ethereum builds the Ethereum consensus-layer payloads that a vhsm
// BLS key signs, byte-exact with the consensus specs, and checks every
// signature it is handed before producing output. It never sees a key share:
// signing goes through the [Signer] interface (implemented by the HSM
// client), and a signature that does not verify under the caller's public key
// is a [*SignatureError], never a payload.
//
// # Networks
//
// [NetworkByName] knows mainnet, hoodi, sepolia and holesky (fork versions,
// genesis validators root, deposit contract, chain id);
// [ParseNetworkConfig] / [LoadNetworkConfig] read a custom network from a
// consensus client's config.yaml keys plus GENESIS_VALIDATORS_ROOT.
//
// # Domains and signing roots
//
// Signing roots follow consensus-specs phase0/beacon-chain.md:
// [ComputeDomain] is compute_domain (domain type + first 28 bytes of
// hash_tree_root(ForkData)), [ComputeSigningRoot] is compute_signing_root
// (hash_tree_root(SigningData)). The SSZ hash_tree_root of the few containers
// used ([DepositMessage], [DepositData], [VoluntaryExit],
// [BLSToExecutionChange]) is written out in ssz.go (ssz/simple-serialize.md
// "Merkleization"). [SignObjectRoot] signs any object root under any domain,
// for operators with other needs.
//
// # Deposit data
//
// A deposit registers a validator key with the deposit contract. The
// DepositMessage (pubkey, withdrawal_credentials, amount) is signed by the
// validator key under compute_domain(DOMAIN_DEPOSIT, GENESIS_FORK_VERSION)
// with a zero genesis_validators_root, so a deposit is valid in every fork
// (phase0 validator.md "Submit deposit", is_valid_deposit_signature).
// Withdrawal credentials are 0x00 + sha256(BLS withdrawal pubkey)[1:]
// ([BLSCredentials]), 0x01 + 11 zero bytes + execution address
// ([ExecutionCredentials]) or, since Electra, 0x02 compounding credentials
// ([CompoundingCredentials], EIP-7251), which alone allow an amount other than
// 32 ETH (1 to 2048 ETH). [BuildDeposit] signs, verifies and returns a
// [DepositEntry]; [MarshalDepositFile] writes deposit_data-*.json exactly as
// the official deposit CLI does (the format the Staking Launchpad accepts);
// [ParseDepositFile] and [DepositEntry.Verify] read one back and check roots
// and signature.
//
// # Voluntary exit
//
// A SignedVoluntaryExit asks the chain to exit a validator from a given
// epoch on. It is signed by the validator key under the EIP-7044 domain:
// compute_domain(DOMAIN_VOLUNTARY_EXIT, CAPELLA_FORK_VERSION,
// genesis_validators_root) (deneb/beacon-chain.md), which keeps a signed exit
// valid in every later fork. [SignVoluntaryExit] produces it; its JSON is the
// beacon API's (POST /eth/v1/beacon/pool/voluntary_exits, see package
// [github.com/vhsm/vhsm/chains/ethereum/beacon]).
//
// # BLS-to-execution change
//
// A validator with 0x00 credentials sets an execution withdrawal address once,
// with a BLSToExecutionChange signed by its BLS withdrawal key under
// compute_domain(DOMAIN_BLS_TO_EXECUTION_CHANGE, GENESIS_FORK_VERSION,
// genesis_validators_root) (capella/beacon-chain.md
// process_bls_to_execution_change). When that withdrawal key is a threshold
// BLS key in the HSM, [SignBLSToExecutionChange] checks that the validator's
// current credentials commit to it ([CheckBLSCredentials]) and signs; the
// beacon API takes a JSON array of such changes.
//
// # Encodings
//
// Beacon-API JSON uses decimal strings for uint64 ([Uint64]) and 0x-prefixed
// hex for byte vectors; parsers reject other forms, unknown fields and
// missing fields. Deposit files use bare hex and a numeric amount, as the CLI
// writes them.
//
// # Tests
//
// The Lighthouse deposit vectors (mainnet, holesky, hoodi; 0x00, 0x01, 0x02)
// are reproduced byte for byte from keys derived in the tests with EIP-2333
// (BLS12-381 key generation, checked against the EIP's own vectors) along
// EIP-2334 paths (m/12381/3600/i/0/0 signing, m/12381/3600/i/0 withdrawal),
// and every signature is verified again with supranational/blst on a signing
// root recomputed by an independent SSZ merkleizer. One test signs a vector
// deposit with the key split 2-of-4 (threshold/vss shares, threshold/bls
// PartialSign and Combine) and gets the vector's signature byte for byte.
package ethereum
