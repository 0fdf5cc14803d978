// The REST API client: bearer token from sessionStorage, JSON bodies,
// RFC 9457 problem+json errors turned into ApiError.

const TOKEN_KEY = 'vhsm.token';

// getToken returns the API token of this browser tab's session, or "".
export function getToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

// setToken keeps the token for this tab only (sessionStorage: not
// persistent storage, never the URL).
export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

// clearToken forgets the token (sign out).
export function clearToken() {
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage unavailable: nothing kept */
  }
}

// ApiError is a failed API call: status, title, detail and per-field
// errors from a problem+json body (or a generic message).
export class ApiError extends Error {
  constructor(status, problem) {
    const detail = problem.detail || problem.title || `Request failed (HTTP ${status}).`;
    super(detail);
    this.name = 'ApiError';
    this.status = status;
    this.type = problem.type || '';
    this.title = problem.title || '';
    this.detail = detail;
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.retryAfter = problem.retryAfter || '';
  }
}

// onUnauthorized is called when the API answers 401 (token refused).
export let onUnauthorized = () => {};
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

// request calls the API. opts: method, body (object, or string sent as
// is), idempotencyKey, raw (return the Response text instead of JSON),
// blob (return a Blob), token (override). Returns the parsed JSON.
export async function request(path, opts = {}) {
  const headers = { Accept: 'application/json, application/problem+json' };
  const token = opts.token !== undefined ? opts.token : getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  let body;
  if (opts.body !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  }
  if (opts.idempotencyKey) headers['Idempotency-Key'] = opts.idempotencyKey;
  if (opts.blob) headers.Accept = '*/*';
  let resp;
  try {
    resp = await fetch(path, {
      method: opts.method || (body !== undefined ? 'POST' : 'GET'),
      headers,
      body,
      cache: 'no-store',
      credentials: 'omit',
      referrerPolicy: 'no-referrer',
      signal: opts.signal,
    });
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, { title: 'Network error', detail: 'Cannot reach the wallet service. Check that it is running and try again.' });
  }
  if (!resp.ok) {
    let problem = {};
    const text = await resp.text().catch(() => '');
    try {
      const parsed = JSON.parse(text);
      if (parsed && typeof parsed === 'object') problem = parsed;
    } catch {
      problem = { detail: text.trim().slice(0, 300) || `Request failed (HTTP ${resp.status}).` };
    }
    if (resp.status === 429) {
      problem.retryAfter = resp.headers.get('Retry-After') || '';
      if (!problem.detail) problem.detail = 'Too many requests; wait a moment and try again.';
    }
    const err = new ApiError(resp.status, problem);
    if (resp.status === 401 && !opts.noAuthRedirect) onUnauthorized(err);
    throw err;
  }
  if (opts.blob) return resp.blob();
  const text = await resp.text();
  if (opts.raw) return text;
  if (text === '') return null;
  return JSON.parse(text);
}

// newIdempotencyKey returns a fresh random key for one user action.
export function newIdempotencyKey() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

const enc = encodeURIComponent;

// The API routes used by the UI.
export const api = {
  listWallets: (o) => request('/v1/wallets', o),
  getWallet: (id, o) => request(`/v1/wallets/${enc(id)}`, o),
  createWallet: (body, key) => request('/v1/wallets', { body, idempotencyKey: key }),
  address: (id, o) => request(`/v1/wallets/${enc(id)}/address`, o),
  addressQR: (id, address) => request(`/v1/wallets/${enc(id)}/address/qr.png${address ? `?address=${encodeURIComponent(address)}` : ''}`, { blob: true }),
  balance: (id, o) => request(`/v1/wallets/${enc(id)}/balance`, o),
  // History: one page of at most limit transactions, newest first, after
  // cursor (the previous page's next_cursor) if given. An API without
  // pages answers the whole history as an array.
  transactions: (id, o, limit, cursor) =>
    request(`/v1/wallets/${enc(id)}/transactions${limit ? `?limit=${limit}${cursor ? `&cursor=${enc(cursor)}` : ''}` : ''}`, o),
  send: (id, body, key) => request(`/v1/wallets/${enc(id)}/transactions`, { body, idempotencyKey: key }),
  newAddress: (id) => request(`/v1/wallets/${enc(id)}/addresses`, { body: {} }),
  addresses: (id, o) => request(`/v1/wallets/${enc(id)}/addresses`, o),
  descriptor: (id, o) => request(`/v1/wallets/${enc(id)}/descriptor`, o),
  bump: (id, tx, body, key) => request(`/v1/wallets/${enc(id)}/transactions/${enc(tx)}/bump`, { body, idempotencyKey: key }),
  feeEstimates: (network, o) => request(`/v1/fee-estimates?network=${enc(network)}`, o),
  createValidator: (body, key) => request('/v1/validators', { body, idempotencyKey: key }),
  getValidator: (id, o) => request(`/v1/validators/${enc(id)}`, o),
  depositData: (id, body) => request(`/v1/validators/${enc(id)}/deposit-data`, { body, raw: true }),
  exit: (id, bodyText) => request(`/v1/validators/${enc(id)}/exit`, { body: bodyText, raw: true }),
  // The EIP-3076 interchange file of a network (admin scope), as text:
  // minimal keeps per validator only the highest slot and epochs.
  slashingExport: (network, minimal, o = {}) =>
    request(`/v1/eth/slashing-protection/export?network=${enc(network)}${minimal ? '&minimal=true' : ''}`, { ...o, raw: true }),
};
