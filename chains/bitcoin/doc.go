// Package bitcoin builds, signs and broadcasts Bitcoin Taproot key-path spends for wallets whose key is
// a threshold BIP-340 key held by the vhsm replicas.
//
// The package never sees a share. A [Wallet] holds only public data: the x-only group key P, the
// BIP-86 output key Q = P + H_TapTweak(P)·G and its P2TR script. It turns the wallet's UTXOs into a
// PSBT, computes the BIP-341 sighash of every input, asks a [Signer] (the HSM client) once per input,
// verifies every returned signature against Q, and assembles the witnesses.
//
// # Addresses
//
// [TaprootAddress] encodes the bech32m P2TR address of a group key for any of [Mainnet], [Testnet3],
// [Testnet4], [Signet] and [Regtest]. btcd v0.24.2 has no testnet4 parameters; this package defines
// them (BIP-94): the HRP "tb" and the base58 version bytes are testnet3's, so testnet3, testnet4 and
// signet addresses are indistinguishable; the network magic, default port, genesis block and
// difficulty rules differ (a test rebuilds the BIP-94 genesis block to check the hash).
// [ParseAddress] accepts a P2PKH, P2SH, P2WPKH, P2WSH or P2TR address of the wallet's network and
// says what is wrong with anything else: [ErrWrongNetwork], [ErrBadChecksum], [ErrBech32Variant]
// (BIP-350: witness v0 must be bech32, v1+ bech32m), [ErrInvalidAddress] (including witness versions
// 2 to 16, which have no output type yet); [ParseTaprootAddress] additionally refuses non-P2TR
// addresses with [ErrNotTaproot].
//
// # Coin selection
//
// [Wallet.BuildSpend] considers only UTXOs paying the wallet's own script, with at least MinConf
// confirmations, and coinbase outputs only after [CoinbaseMaturity] confirmations. It sorts them
// largest first (ties by outpoint, so the result is deterministic) and adds them one at a time until
// the inputs pay the outputs plus the fee of the transaction *with* a change output and leave a change
// of at least the dust limit; or, failing that, pay the outputs plus the fee of the transaction
// *without* change, in which case the remainder (too small to pay for a change output and still leave
// a non-dust change) is added to the fee. At most 1000 inputs are used. Largest-first keeps the
// input count (and so the fee) low; it does not try to avoid change. "Send max" (one output with
// SendMax) spends every eligible UTXO and gives that output everything left after the other outputs
// and the fee; no change is made.
//
// Change goes back to the wallet's own P2TR script, marked with the BIP-371 PSBT_OUT_TAP_INTERNAL_KEY.
// Outputs below [DustLimit] (Bitcoin Core's rule at 3 sat/vB: 330 sat for P2TR/P2WSH, 294 P2WPKH, 540
// P2SH, 546 P2PKH) are refused with [ErrDust]. Every input has sequence 0xfffffffd ([SequenceRBF]):
// BIP-125 replaceable, no relative lock-time. Transactions are version 2.
//
// # Fee and vsize accounting
//
// Fee rates are integers in sat/kvB ([FeeRate]; 1 sat/vB = 1000) so that the arithmetic is exact;
// fee = ⌈rate × vsize / 1000⌉. The size of the signed transaction is known exactly before signing:
// every input is a Taproot key-path spend with SIGHASH_DEFAULT, whose witness is one 64-byte
// signature: 1 (item count) + 1 (length) + 64 = 66 weight units. So
//
//	weight = 4 × (size without witness) + 2 (segwit marker and flag) + 66 × inputs
//	vsize  = ⌈weight / 4⌉
//
// ([VSize]). The tests check this against the weight of the finally signed transaction and, on regtest,
// the fee that btcd records.
//
// # Signing
//
// [Sighashes] computes the BIP-341 SigMsg hash (hash_type 0x00, ext_flag 0) of every input from the
// PSBT's witness UTXOs. [Wallet.Sign] calls [Signer.SignTaproot] once per input with merkle root nil
// (BIP-86; the leaf's merkle root for a wallet from [NewRecoveryWallet]), verifies each signature with btcec's BIP-340 verifier against Q, and only then sets
// PSBT_IN_TAP_KEY_SIG, finalizes and extracts the transaction. A signature that does not verify is an
// [*InputError] naming the input and wrapping [ErrBadSignature]; nothing is finalized.
//
// Derived addresses: [Wallet.SetRoot] gives a wallet its BIP-32 tree (chains/bitcoin/hd) and
// [Wallet.AddKeys] / [Wallet.AddPath] its derived BIP-86 addresses; [Wallet.BuildSpend] then selects
// their outputs too, sends change where [Wallet.SetChange] says, and writes BIP-371
// PSBT_IN/OUT_TAP_BIP32_DERIVATION; [Wallet.Sign] signs each input for the key of the address it spends,
// through [PathSigner.SignTaprootPath] for a derived one, and verifies it against that key. [UTXOsOf]
// lists the outputs of many addresses (one listunspent on Bitcoin Core; on btcd one scan per address,
// reused while the chain state is unchanged).
//
// [Wallet.ImportPSBT] accepts an externally built PSBT only if every input spends the wallet's own
// key-path output, carries its witness UTXO, asks for SIGHASH_DEFAULT, has no script-path or foreign
// signing data, is not yet signed, and the fee is not negative; otherwise it returns [ErrForeignPSBT]
// with the reason (an [*InputError] when one input is to blame).
//
// [Wallet.PlanPSBT] (and [Wallet.ImportPartialPSBT], which decodes first) is the partial-signing
// variant: every input must name the output it spends (witness_utxo, or a non_witness_utxo hashing to
// the outpoint's txid), the wallet's inputs are checked as above but may ask for SIGHASH_ALL, and other
// inputs are left alone. [Wallet.SignPSBT] signs the wallet's inputs, sets PSBT_IN_TAP_KEY_SIG without
// finalizing (so a finalizer or another signer can finish) and, when every input is then finalizable,
// extracts the transaction and executes every input's script. [DecodePSBT] reads
// PSBT_GLOBAL_VERSION first ([PSBTVersion]) and refuses version 2 (BIP-370) with [ErrPSBTVersion]:
// btcutil/psbt reads version 0 only. [OutputLookup] (gettxout; Esplora /tx and /outspend) lets the
// wallet check other parties' inputs against the chain; [FeeEstimator] says whether a fee rate is the
// node's estimate or the configured fallback.
//
// # Recovery path
//
// A wallet output may carry one tapscript leaf, miniscript and_v(v:pk(K),older(N)), compiled to
// <K> OP_CHECKSIGVERIFY <N> OP_CHECKSEQUENCEVERIFY ([RecoveryLeaf]; K x-only, N in 1..65535 blocks,
// minimally pushed). With one leaf the merkle root is the leaf hash; the output key is
// Q = P + hash_TapTweak(P ‖ root)·G and the control block (0xc0 | parity(Q)) ‖ x(P)
// ([NewRecoveryOutput]; computed here from the BIP-341 formulas and tested against the BIP-341 wallet
// vectors and btcd's txscript). The threshold key P spends by the key path ([NewRecoveryWallet]: the
// signer tweaks with the root); the recovery key K alone by the script path once the output is N blocks
// deep. [ParseRecoveryDescriptor] and [RecoveryDescriptor.String] read and write
// tr(KEY,and_v(v:pk(RKEY),older(N)))#checksum with BIP-380 key expressions ([DescKey]: hex keys,
// xpubs with unhardened /NUM steps and a final /*, optional key origin; private keys refused).
// [BuildSweep] builds a version-2 transaction moving such outputs to one address, nSequence = N on each
// input (BIP-68 relative lock in blocks), the fee exact for the signed size; [SignSweep] signs each input
// with the BIP-342 tapscript sighash (SIGHASH_DEFAULT) by the recovery key derived for it from a
// [RecoveryKey] (xprv or WIF), sets the witness [signature, script, control block], and runs btcd's script
// engine over the result before returning it. On an HD wallet every derived address carries the leaf of
// its own recovery key ([DeriveRecoveryKey]: tr(root/b/i, leaf(RXPUB/b/i))); [Wallet.Sign] and
// [Wallet.SignPSBT] tweak each input's key with its address's merkle root, and [Wallet.BuildSpend] writes
// PSBT_IN_TAP_MERKLE_ROOT on inputs and PSBT_OUT_TAP_TREE on the change output.
//
// # Backends
//
// A [Backend] lists UTXOs, estimates fees, broadcasts and reports transaction status. Every call takes
// a context, each HTTP request has a timeout, and transient failures (connection errors, timeouts,
// HTTP 429/5xx) are retried with exponential backoff ([Retry]); a refusal is never retried and comes
// back as a [*RejectError] carrying the server's reason verbatim.
//
//   - [Esplora] speaks the Esplora REST API (mainnet, testnet, signet): GET /address/:a/utxo,
//     GET /fee-estimates (sat/vB per target; the estimate for the largest target not above the
//     requested one is used), POST /tx (raw hex; the answer must be the txid), GET /tx/:txid/status
//     and GET /blocks/tip/height for confirmation counts. Esplora does not flag coinbase outputs.
//   - [RPC] speaks JSON-RPC to btcd or Bitcoin Core (v25+), regtest or self-hosted. It detects which
//     once, on first need ([RPC.Kind]: Core's getnetworkinfo subversion is "/Satoshi:x.y.z/"; btcd
//     v0.24.2 answers getnetworkinfo with "Command unimplemented"), or is told ([RPCConfig].Node).
//     Broadcast is sendrawtransaction on both; TxStatus is getrawtransaction + getblockheader.
//   - btcd has no wallet, so UTXOs come from its address index: searchrawtransactions (btcd needs
//     --txindex --addrindex) lists every confirmed and mempool transaction touching the address, and
//     an output is unspent when none of them spends it; this was chosen over scanning blocks because it
//     is one indexed query and it sees the mempool. Coinbase outputs are flagged. estimatefee has no
//     data on regtest, so a configured fallback rate is used then.
//   - Bitcoin Core has neither call. The RPC keeps a watch-only descriptor wallet on the node
//     ([DefaultCoreWallet] unless configured): loadwallet, and createwallet (private keys disabled,
//     blank, descriptors, load on startup) only if Core says it does not exist (-18); a wallet that is
//     already loaded (-35) is fine; a wallet of that name with private keys is refused. Each address is
//     imported once per RPC with importdescriptors as "addr(ADDRESS)#checksum" ([AddrDescriptor]; the
//     BIP-380 checksum is computed here, [DescriptorChecksum]) from "now" or from [RPCConfig].RescanFrom
//     for an address with history ([RPC.ImportAddress] for one address). UTXOs are listunspent 0
//     9999999 [address] through the wallet endpoint /wallet/<name>: minconf 0 includes mempool outputs
//     and excludes outputs spent in the mempool; immature coinbase outputs are not listed, and Core
//     does not mark coinbase outputs. Amounts are converted from Core's decimal text to satoshis
//     exactly, never through float64. FeeRate is estimatesmartfee, whose BTC/kvB read as an amount in
//     satoshis is the rate in sat/kvB; the same fallback applies when Core reports "errors".
//     TxStatus asks the wallet's gettransaction when getrawtransaction does not know the transaction
//     (no -txindex). Core's error codes are explained in the errors (-4 wallet error, -18 wallet not
//     found, -35 already loaded, -8 invalid parameter, -28 starting up); the [*RPCError] is kept.
//     No bitcoind is available where this package is tested: the Core path is tested against a fake
//     that follows Core's RPC help and source strictly (methods, argument counts and types, the wallet
//     endpoint, basic auth, HTTP status codes, answer shapes); the btcd path against a real btcd.
//
// Package [github.com/vhsm/vhsm/chains/bitcoin/btcdtest] runs a throw-away btcd regtest node for tests.
package bitcoin
