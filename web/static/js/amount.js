// Exact decimal amounts: strings are parsed into integer base units
// (BigInt), never through floating point.

export const SATS_PER_BTC = 100000000n;
export const MAX_SATS = 21000000n * SATS_PER_BTC;
export const GWEI_PER_ETH = 1000000000n;
export const MAX_UINT64 = (1n << 64n) - 1n;

// parseDecimal parses a non-negative decimal string with at most `decimals`
// fraction digits into an integer count of base units (10^-decimals).
// It throws an Error with a user-facing message on anything else.
export function parseDecimal(input, decimals, what) {
  const s = String(input).trim().replace(/_/g, '');
  if (s === '') throw new Error(`Enter ${what}.`);
  const m = /^(\d*)(?:\.(\d*))?$/.exec(s);
  if (!m || (m[1] === '' && (m[2] === undefined || m[2] === ''))) {
    throw new Error(`${what[0].toUpperCase()}${what.slice(1)} must be a number like 0.001 (digits and one decimal point).`);
  }
  const whole = m[1] || '0';
  const frac = m[2] || '';
  if (frac.length > decimals) {
    throw new Error(`${what[0].toUpperCase()}${what.slice(1)} has more than ${decimals} decimal places.`);
  }
  return BigInt(whole) * 10n ** BigInt(decimals) + BigInt(frac.padEnd(decimals, '0') || '0');
}

// parseInteger parses a non-negative decimal integer string (no sign, no
// fraction) into a BigInt no larger than max.
export function parseInteger(input, what, max = MAX_UINT64) {
  const s = String(input).trim().replace(/_/g, '');
  if (s === '') throw new Error(`Enter ${what}.`);
  if (!/^\d+$/.test(s)) throw new Error(`${what[0].toUpperCase()}${what.slice(1)} must be a whole number (digits only).`);
  const v = BigInt(s);
  if (v > max) throw new Error(`${what[0].toUpperCase()}${what.slice(1)} is too large (at most ${max}).`);
  return v;
}

// parseSats parses an amount typed in the given unit ("btc" or "sat") into
// satoshi (BigInt). It refuses zero, fractions of a satoshi and amounts
// above 21 million BTC.
export function parseSats(input, unit) {
  let v;
  if (unit === 'sat') {
    v = parseInteger(input, 'the amount in sats', MAX_SATS);
  } else if (unit === 'btc') {
    v = parseDecimal(input, 8, 'the amount in BTC');
  } else {
    throw new Error('Unknown unit.');
  }
  if (v <= 0n) throw new Error('The amount must be greater than zero.');
  if (v > MAX_SATS) throw new Error('The amount is larger than 21 million BTC.');
  return v;
}

// formatUnits formats an integer count of base units (BigInt, number or
// decimal string) with `decimals` fraction digits, trimming trailing zeros
// but keeping at least `keep` of them.
export function formatUnits(value, decimals, keep = 0) {
  let v = BigInt(value);
  const neg = v < 0n;
  if (neg) v = -v;
  const base = 10n ** BigInt(decimals);
  const whole = v / base;
  let frac = (v % base).toString().padStart(decimals, '0');
  while (frac.length > keep && frac.endsWith('0')) frac = frac.slice(0, -1);
  return (neg ? '-' : '') + whole.toString() + (frac ? '.' + frac : '');
}

// formatBTC formats satoshi as BTC with 8 decimals trimmed (at least 1).
export function formatBTC(sats) {
  return formatUnits(sats, 8, 1);
}

// formatSats formats an integer with thin grouping: 1 234 567.
export function formatSats(sats) {
  const s = BigInt(sats).toString();
  const neg = s.startsWith('-');
  const d = neg ? s.slice(1) : s;
  const grouped = d.replace(/\B(?=(\d{3})+(?!\d))/g, '\u202f');
  return (neg ? '-' : '') + grouped;
}
