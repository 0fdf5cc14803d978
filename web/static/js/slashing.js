// EIP-3076 slashing-protection interchange files: one validator's record
// (its highest signed block slot and attestation epochs) read out of the
// file the API exports. Values are uint64 decimal strings, kept exact as
// BigInt.

const UINT_RE = /^\d{1,20}$/;
const MAX_UINT64 = (1n << 64n) - 1n;
const PUBKEY_RE = /^(0x)?[0-9a-f]{96}$/;

function uint(v, what) {
  if (typeof v !== 'string' || !UINT_RE.test(v) || BigInt(v) > MAX_UINT64) {
    throw new Error(`The interchange file has an invalid ${what} (${typeof v === 'string' ? v.slice(0, 30) : typeof v}).`);
  }
  return BigInt(v);
}

function max(a, b) {
  return a === null || b > a ? b : a;
}

// normalizePubkey returns a BLS public key as lower-case 0x + 96 hex
// digits, or throws.
export function normalizePubkey(pubkey) {
  const s = String(pubkey || '').trim().toLowerCase();
  if (!PUBKEY_RE.test(s)) throw new Error('Not a BLS public key (48 bytes of hex).');
  return s.startsWith('0x') ? s : `0x${s}`;
}

// slashingRecord parses an interchange file (text or parsed object) and
// returns the record of the validator with the given public key:
// { genesisValidatorsRoot, found, blocks, attestations, slot, source,
// target }, the last three as decimal strings or null when nothing of that
// kind was signed. EIP-3076 allows several entries for one key: they are
// merged. A malformed file, or a malformed value in this validator's
// entries, throws.
export function slashingRecord(file, pubkey) {
  const doc = typeof file === 'string' ? JSON.parse(file) : file;
  if (!doc || typeof doc !== 'object' || !doc.metadata || typeof doc.metadata !== 'object' || !Array.isArray(doc.data)) {
    throw new Error('Not an EIP-3076 interchange file (metadata and data expected).');
  }
  if (String(doc.metadata.interchange_format_version) !== '5') {
    throw new Error(`Unsupported interchange format version ${String(doc.metadata.interchange_format_version).slice(0, 10)} (5 expected).`);
  }
  const want = normalizePubkey(pubkey);
  let found = false;
  let blocks = 0;
  let attestations = 0;
  let slot = null;
  let source = null;
  let target = null;
  for (const entry of doc.data) {
    if (!entry || typeof entry !== 'object' || typeof entry.pubkey !== 'string') {
      throw new Error('The interchange file has an entry without a public key.');
    }
    if (entry.pubkey.toLowerCase() !== want) continue;
    found = true;
    for (const b of Array.isArray(entry.signed_blocks) ? entry.signed_blocks : []) {
      slot = max(slot, uint(b && b.slot, 'block slot'));
      blocks += 1;
    }
    for (const a of Array.isArray(entry.signed_attestations) ? entry.signed_attestations : []) {
      source = max(source, uint(a && a.source_epoch, 'source epoch'));
      target = max(target, uint(a && a.target_epoch, 'target epoch'));
      attestations += 1;
    }
  }
  const str = (v) => (v === null ? null : v.toString());
  return {
    genesisValidatorsRoot: String(doc.metadata.genesis_validators_root || ''),
    found, blocks, attestations, slot: str(slot), source: str(source), target: str(target),
  };
}
