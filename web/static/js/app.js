// The vhsm web wallet: a hash-routed single page client of the REST API.
// Everything from the API is inserted as text (see dom.js), never as HTML.

import { api, ApiError, clearToken, getToken, newIdempotencyKey, request, setToken, setUnauthorizedHandler } from './api.js';
import { GWEI_PER_ETH, MAX_UINT64, formatBTC, formatSats, formatUnits, parseDecimal, parseInteger, parseSats } from './amount.js';
import { download, fieldId, h, replace, spinner } from './dom.js';
import { slashingRecord } from './slashing.js';

const BITCOIN_NETWORKS = ['mainnet', 'testnet4', 'testnet3', 'signet', 'regtest'];
const ETHEREUM_NETWORKS = ['mainnet', 'hoodi', 'sepolia', 'holesky'];
const REFRESH_MS = 4000;
const HISTORY_PAGE = 50; // transactions per history page
const ID_RE = /^[A-Za-z0-9_-]{1,100}$/;
const MAX_FEE_RATE = 10000n; // sat/vB: the service's one fee-rate limit (GET /v1/fee-estimates says it too)

const view = document.getElementById('view');
const nav = document.getElementById('nav');
const flash = document.getElementById('flash');

// ---- navigation ----

let current = null; // { abort: AbortController, timers: [] } of the rendered view

function cleanup() {
  if (!current) return;
  current.abort.abort();
  for (const t of current.timers) clearInterval(t);
  current = null;
}

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

let flashKeep = 0; // navigations the current message survives

// setFlash shows a message above the view until the navigation after next
// (it survives the navigation that usually follows it).
function setFlash(message, kind = 'info') {
  flashKeep = message ? 1 : 0;
  replace(flash, message ? h('p', { class: `flash flash-${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message) : null);
}

setUnauthorizedHandler(() => {
  clearToken();
  setFlash('The API refused the token (unknown, revoked or expired). Sign in again.', 'error');
  go('#/signin');
});

async function route() {
  cleanup();
  const ctx = { abort: new AbortController(), timers: [] };
  current = ctx;
  const hash = location.hash.replace(/^#/, '') || '/';
  const parts = hash.split('/').filter(Boolean);
  const signedIn = getToken() !== '';
  nav.hidden = !signedIn;
  document.body.dataset.view = parts[0] || 'home';
  try {
    if (!signedIn || parts[0] === 'signin') {
      if (signedIn) return go('#/wallets');
      document.body.dataset.view = 'signin';
      return renderSignIn(ctx);
    }
    if (parts.length === 0 || (parts[0] === 'wallets' && parts.length === 1)) {
      document.body.dataset.view = 'wallets';
      return await renderWallets(ctx);
    }
    if (parts[0] === 'new') return renderCreate(ctx, parts[1] === 'validator' ? 'validator' : 'bitcoin');
    if (parts[0] === 'wallets' && parts.length === 2 && ID_RE.test(parts[1])) return await renderWallet(ctx, parts[1]);
    renderNotFound();
  } catch (e) {
    if (e && e.name === 'AbortError') return;
    if (ctx !== current) return;
    replace(view, h('h1', { tabindex: '-1' }, 'Something went wrong'), errorBox(e));
  }
}

function focusHeading() {
  const h1 = view.querySelector('h1');
  if (h1) h1.focus({ preventScroll: false });
}

function renderNotFound() {
  replace(view, h('h1', { tabindex: '-1' }, 'Page not found'), h('p', {}, h('a', { href: '#/wallets' }, 'Back to your wallets')));
  focusHeading();
}

// ---- errors ----

// errorBox shows an error: an API problem's detail and field errors, or a
// local validation message.
function errorBox(err) {
  const items = [];
  let message = 'Something went wrong.';
  let title = 'Error';
  if (err instanceof ApiError) {
    title = err.title || (err.status ? `HTTP ${err.status}` : 'Error');
    message = err.detail;
    for (const fe of err.errors) {
      if (!fe || typeof fe !== 'object') continue;
      const field = typeof fe.field === 'string' ? fe.field : '';
      const msg = typeof fe.message === 'string' ? fe.message : JSON.stringify(fe);
      items.push(h('li', {}, field ? h('code', {}, field) : null, field ? ': ' : null, msg));
    }
    if (err.retryAfter) items.push(h('li', {}, `Retry after ${err.retryAfter} s.`));
  } else if (err instanceof Error) {
    message = err.message;
  } else if (err) {
    message = String(err);
  }
  return h('div', { class: 'alert', role: 'alert' },
    h('strong', {}, title === message ? 'Error' : title), h('p', {}, message),
    items.length ? h('ul', {}, items) : null);
}

function errorSlot() {
  const slot = h('div', { class: 'error-slot' });
  slot.show = (err) => replace(slot, err ? errorBox(err) : null);
  return slot;
}

// ---- form helpers ----

function field(label, input, hint) {
  const id = input.id || fieldId('f');
  input.id = id;
  let hintEl = null;
  if (hint) {
    hintEl = h('small', { class: 'hint', id: `${id}-hint` }, hint);
    input.setAttribute('aria-describedby', hintEl.id);
  }
  return h('div', { class: 'field' }, h('label', { for: id }, label), input, hintEl);
}

function select(name, options, value) {
  return h('select', { name }, options.map((o) => h('option', { value: o, selected: o === value }, o)));
}

function busy(button, on, label) {
  if (on) {
    button.dataset.label = button.textContent;
    button.disabled = true;
    if (label) button.textContent = label;
  } else {
    button.disabled = false;
    if (button.dataset.label) button.textContent = button.dataset.label;
  }
}

// selectText selects the text of el (the copy fallback: the user presses
// Ctrl+C).
function selectText(el) {
  const range = document.createRange();
  range.selectNodeContents(el);
  const sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
}

// copyButton copies getText() with the Clipboard API. Where that is
// missing (a page not served from a secure context) or refused, it selects
// the text of selectEl (if given) and tries the legacy copy command; if
// that fails too the text stays selected and the button says so.
function copyButton(getText, label = 'Copy', selectEl = null, id = null) {
  const btn = h('button', { type: 'button', class: 'secondary small', id }, label);
  btn.addEventListener('click', async () => {
    const text = getText();
    let result = 'Copied';
    try {
      if (!navigator.clipboard || !navigator.clipboard.writeText) throw new Error('no clipboard');
      await navigator.clipboard.writeText(text);
    } catch {
      result = 'Copy failed: select the text';
      if (selectEl) {
        selectText(selectEl);
        let copied = false;
        try { copied = document.execCommand('copy'); } catch { copied = false; }
        result = copied ? 'Copied' : 'Selected: press Ctrl+C';
        if (!copied) selectText(selectEl); // keep the selection for the user
      }
    }
    btn.textContent = result;
    btn.dataset.result = result;
    setTimeout(() => { btn.textContent = label; }, 2500);
  });
  return btn;
}

function fmtTime(s) {
  if (!s) return '';
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? String(s) : d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
}

function short(s, n = 10) {
  s = String(s || '');
  return s.length > 2 * n + 1 ? `${s.slice(0, n)}…${s.slice(-n)}` : s;
}

function btcAmount(sats) {
  return h('span', { class: 'amount' }, h('span', { class: 'btc' }, `${formatBTC(sats)} BTC`), ' ', h('span', { class: 'sats' }, `(${formatSats(sats)} sats)`));
}

// ---- sign in ----

function renderSignIn() {
  const input = h('input', { type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false', required: true });
  const btn = h('button', { type: 'submit' }, 'Sign in');
  const err = errorSlot();
  const form = h('form', { class: 'card narrow', novalidate: true },
    field('API token', input, 'Kept in this browser tab only (session storage) and cleared on sign out. vhsm devnet writes one into DIR/client.json (api_token).'),
    err, h('div', { class: 'actions' }, btn));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const token = input.value.trim();
    err.show(null);
    if (!token) {
      err.show(new Error('Enter your API token.'));
      input.focus();
      return;
    }
    busy(btn, true, 'Signing in…');
    try {
      await request('/v1/wallets', { token, noAuthRedirect: true });
      setToken(token);
      input.value = '';
      setFlash('');
      go('#/wallets');
    } catch (e) {
      err.show(e instanceof ApiError && e.status === 401 ? new Error('The API refused this token (unknown, revoked or expired).') : e);
      input.focus();
    } finally {
      busy(btn, false);
    }
  });
  replace(view, h('h1', { tabindex: '-1' }, 'Sign in'), form);
  input.focus();
}

// ---- wallet list ----

async function renderWallets(ctx) {
  replace(view, h('h1', { tabindex: '-1' }, 'Wallets'), spinner('Loading wallets…'));
  focusHeading();
  const wallets = (await api.listWallets({ signal: ctx.abort.signal })) || [];
  if (ctx !== current) return;
  const actions = h('div', { class: 'actions' },
    h('a', { class: 'button', href: '#/new/bitcoin' }, 'New Bitcoin wallet'),
    h('a', { class: 'button secondary', href: '#/new/validator' }, 'New validator'));
  let body;
  if (wallets.length === 0) {
    body = h('p', { class: 'empty' }, 'No wallets yet. Create a Bitcoin wallet or an Ethereum validator to start.');
  } else {
    body = h('div', { class: 'table-wrap' }, h('table', { class: 'list' },
      h('thead', {}, h('tr', {}, ['Label', 'Kind', 'Network', 'Address / public key', 'Created'].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, wallets.map((w) => h('tr', {},
        h('td', { dataset: { label: 'Label' } }, h('a', { href: `#/wallets/${encodeURIComponent(w.id)}`, class: 'wallet-link' }, w.label || w.id)),
        h('td', { dataset: { label: 'Kind' } }, w.kind === 'validator' ? 'Validator' : 'Bitcoin'),
        h('td', { dataset: { label: 'Network' } }, h('span', { class: `badge net net-${w.network}` }, w.network)),
        h('td', { class: 'mono', dataset: { label: 'Address' } }, short(w.address || w.public_key, 12)),
        h('td', { dataset: { label: 'Created' } }, fmtTime(w.created_at)))))));
  }
  replace(view, h('h1', { tabindex: '-1' }, 'Wallets'), actions, body);
  focusHeading();
}

// ---- create ----

function renderCreate(ctx, initialKind) {
  let kind = initialKind;
  const err = errorSlot();
  const label = h('input', { type: 'text', name: 'label', maxlength: '100', autocomplete: 'off' });
  const network = h('select', { name: 'network' });
  const withdrawal = h('input', { type: 'text', name: 'withdrawal_address', autocomplete: 'off', spellcheck: 'false', placeholder: '0x…', pattern: '0x[0-9a-fA-F]{40}' });
  const compounding = h('input', { type: 'checkbox', name: 'compounding' });
  const validatorFields = h('div', { class: 'validator-fields' },
    field('Withdrawal address', withdrawal, 'The Ethereum execution address (0x + 40 hex digits) that receives withdrawals.'),
    h('div', { class: 'field check' }, compounding, h('label', { for: (compounding.id = fieldId('cmp')) }, 'Compounding (0x02 credentials, EIP-7251)')));
  // Optional recovery path (Bitcoin): an offline key that alone can spend
  // coins left unmoved for `older` blocks.
  const recEnable = h('input', { type: 'checkbox', name: 'recovery', id: fieldId('rec') });
  const recXpub = h('input', { type: 'text', name: 'recovery_xpub', autocomplete: 'off', spellcheck: 'false', placeholder: 'tpub… or [fingerprint/86h/1h/0h]tpub…' });
  const recOlder = h('input', { type: 'text', name: 'recovery_older', inputmode: 'numeric', autocomplete: 'off', placeholder: '4320' });
  const recDays = h('small', { class: 'hint', id: 'recovery-days', 'aria-live': 'polite' });
  const recInputs = h('div', { class: 'recovery-inputs', hidden: true },
    field('Recovery key (extended public key)', recXpub, 'The xpub (mainnet) or tpub (test networks) of a key you keep offline, e.g. on a hardware wallet; optionally with its key origin. Never paste a private key (xprv/tprv) here.'),
    field('Timelock (blocks)', recOlder, '1 to 65535 blocks, counted from the confirmation of each payment: 144 ≈ 1 day, 1008 ≈ 1 week, 4320 ≈ 30 days.'),
    recDays);
  const recoveryFields = h('fieldset', { class: 'recovery' },
    h('legend', {}, 'Recovery path (optional)'),
    h('p', { class: 'hint', id: 'recovery-explain' },
      'Without it, the coins can be spent only by the HSM replicas: if too many of them lose their key shares, the coins are lost. ',
      'With it, every address also gets a Taproot script path: once a payment has sat unmoved for the timelock, the recovery key alone can spend it (vhsm recover), without any replica. ',
      'Before that, only the HSM can spend. Whoever holds the recovery key can take unmoved coins after the timelock, so guard it like the coins; it cannot be added or changed later.'),
    h('div', { class: 'check' }, recEnable, h('label', { for: recEnable.id }, 'Add a timelocked recovery key')),
    recInputs);
  recEnable.addEventListener('change', () => { recInputs.hidden = !recEnable.checked; if (recEnable.checked) recXpub.focus(); });
  recOlder.addEventListener('input', () => {
    const n = Number(recOlder.value.trim());
    recDays.textContent = /^\d+$/.test(recOlder.value.trim()) && n >= 1 && n <= 65535
      ? `About ${n < 144 ? `${Math.round(n * 10 / 60 * 10) / 10} hours` : `${Math.round(n / 144 * 10) / 10} days`} (a block every ~10 minutes).` : '';
  });

  const radios = ['bitcoin', 'validator'].map((k) => {
    const r = h('input', { type: 'radio', name: 'kind', value: k, checked: k === kind, id: fieldId('kind') });
    r.addEventListener('change', () => { kind = k; update(); });
    return h('span', { class: 'radio' }, r, h('label', { for: r.id }, k === 'bitcoin' ? 'Bitcoin (Taproot)' : 'Ethereum validator'));
  });
  const btn = h('button', { type: 'submit' }, 'Create');
  const progress = h('div', { class: 'progress-slot', 'aria-live': 'polite' });
  let lastAttempt = null; // { body, key } of the last failed attempt

  function update() {
    const nets = kind === 'bitcoin' ? BITCOIN_NETWORKS : ETHEREUM_NETWORKS;
    replace(network, nets.map((n) => h('option', { value: n }, n)));
    validatorFields.hidden = kind !== 'validator';
    recoveryFields.hidden = kind !== 'bitcoin';
    withdrawal.required = kind === 'validator';
    heading.textContent = kind === 'bitcoin' ? 'New Bitcoin wallet' : 'New Ethereum validator';
    btn.textContent = kind === 'bitcoin' ? 'Create wallet' : 'Create validator';
  }

  const heading = h('h1', { tabindex: '-1' });
  const form = h('form', { class: 'card', novalidate: true },
    h('fieldset', { class: 'kind' }, h('legend', {}, 'Kind'), radios),
    field('Label', label, 'Shown only to you; stored encrypted by the HSM.'),
    field('Network', network),
    validatorFields, recoveryFields, err, progress,
    h('div', { class: 'actions' }, btn, h('a', { class: 'button secondary', href: '#/wallets' }, 'Cancel')));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.show(null);
    let body;
    if (kind === 'bitcoin') {
      body = { kind: 'bitcoin', network: network.value, label: label.value.trim() };
      if (recEnable.checked) {
        try {
          body.recovery = recoveryBody(recXpub.value, recOlder.value);
        } catch (e) {
          err.show(e);
          (e.field === 'older' ? recOlder : recXpub).focus();
          return;
        }
      }
    } else {
      const addr = withdrawal.value.trim();
      if (!/^0x[0-9a-fA-F]{40}$/.test(addr)) {
        err.show(new Error('The withdrawal address must be 0x followed by 40 hexadecimal digits.'));
        withdrawal.focus();
        return;
      }
      body = { network: network.value, label: label.value.trim(), withdrawal_address: addr, compounding: compounding.checked };
    }
    // A retry of the same request reuses its Idempotency-Key, so a create
    // that succeeded but whose answer was lost returns the same wallet.
    const text = JSON.stringify(body);
    const key = lastAttempt && lastAttempt.body === text ? lastAttempt.key : newIdempotencyKey();
    lastAttempt = { body: text, key };
    busy(btn, true, 'Creating…');
    form.setAttribute('aria-busy', 'true');
    const started = Date.now();
    const msg = h('span', {}, 'Creating the key with the replicas (distributed key generation)…');
    replace(progress, spinner(msg));
    const tick = setInterval(() => { msg.textContent = `Creating the key with the replicas (distributed key generation)… ${Math.round((Date.now() - started) / 1000)} s`; }, 1000);
    ctx.timers.push(tick);
    try {
      const w = kind === 'bitcoin' ? await api.createWallet(body, key) : await api.createValidator(body, key);
      lastAttempt = null;
      setFlash(`Created ${w.kind === 'validator' ? 'validator' : 'wallet'} ${w.label || w.id}.`, 'ok');
      go(`#/wallets/${encodeURIComponent(w.id)}`);
    } catch (e) {
      if (ctx !== current) return;
      err.show(e);
    } finally {
      clearInterval(tick);
      replace(progress);
      form.removeAttribute('aria-busy');
      busy(btn, false);
    }
  });

  update();
  replace(view, heading, form);
  focusHeading();
  // Preselect the network of the newest wallet of this kind, if any: a
  // devnet user keeps creating regtest wallets without picking it each time.
  api.listWallets({ signal: ctx.abort.signal }).then((ws) => {
    if (ctx !== current || !Array.isArray(ws)) return;
    const want = kind === 'validator' ? 'validator' : 'bitcoin';
    const last = ws.filter((x) => x.kind === want).sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)))[0];
    if (last && kind === want && [...network.options].some((o) => o.value === last.network) && !form.dataset.touched) network.value = last.network;
  }).catch(() => {});
  network.addEventListener('change', () => { form.dataset.touched = '1'; });
}

// recoveryBody checks the recovery fields locally (the API checks the key
// against the network) and returns the request's recovery object.
function recoveryBody(xpubInput, olderInput) {
  const xpub = String(xpubInput).trim();
  const fail = (msg, fieldName) => Object.assign(new Error(msg), { field: fieldName });
  if (!xpub) throw fail('Enter the recovery key (xpub or tpub), or untick the recovery path.', 'xpub');
  if (/(^|\])\s*[xtyzuv]prv/i.test(xpub)) throw fail('That is a private key (…prv). Never give a private key to the wallet service: enter the extended public key (xpub or tpub).', 'xpub');
  if (xpub.length > 256 || !/^(\[[0-9A-Fa-f]{8}(\/[0-9]+['hH]?)*\])?[xt]pub[1-9A-HJ-NP-Za-km-z]{100,112}$/.test(xpub)) {
    throw fail('The recovery key must be an extended public key (xpub… or tpub…, base58), optionally after its key origin [fingerprint/path], with no derivation path after it.', 'xpub');
  }
  let older;
  try {
    older = parseInteger(olderInput, 'the timelock in blocks', 65535n);
  } catch (e) {
    throw fail(e.message, 'older');
  }
  if (older < 1n) throw fail('The timelock must be at least 1 block.', 'older');
  return { xpub, older: Number(older) };
}

// ---- wallet view ----

async function renderWallet(ctx, id) {
  replace(view, h('h1', { tabindex: '-1' }, 'Wallet'), spinner('Loading wallet…'));
  focusHeading();
  const w = await api.getWallet(id, { signal: ctx.abort.signal });
  if (ctx !== current) return;
  if (w.kind === 'validator') {
    document.body.dataset.view = 'validator';
    return renderValidator(ctx, w);
  }
  document.body.dataset.view = 'wallet';
  return renderBitcoin(ctx, w);
}

function walletHeader(w, kindLabel) {
  return [
    h('p', { class: 'crumbs' }, h('a', { href: '#/wallets' }, '← Wallets')),
    h('h1', { tabindex: '-1' }, w.label || kindLabel),
    h('p', { class: 'meta' }, h('span', { class: 'badge' }, kindLabel), ' ', h('span', { class: `badge net net-${w.network}` }, w.network), ' ',
      h('span', { class: 'mono muted' }, w.id)),
  ];
}

function renderBitcoin(ctx, w) {
  const signal = ctx.abort.signal;
  let estimates = null; // GET /v1/fee-estimates of the wallet's network, once loaded

  // Receive: the base address at first; "New receive address" hands out a
  // fresh, unused one each time (BIP-32 child 0/i, gap limit 20).
  const addrText = h('code', { class: 'address', id: 'receive-address' }, w.address || '');
  const addrNote = h('p', { class: 'muted', id: 'receive-note' }, `Send only ${w.network} bitcoin to this Taproot address (the wallet’s base address). For each payment, prefer a new address: reusing one links payments together.`);
  const qr = h('div', { class: 'qr' }, spinner('Loading QR code…'));
  const newAddrBtn = h('button', { type: 'button', id: 'new-address' }, 'New receive address');
  const receiveErr = errorSlot();
  const receive = h('section', { class: 'card', 'aria-labelledby': 'receive-h' },
    h('h2', { id: 'receive-h' }, 'Receive'),
    h('div', { class: 'receive' }, qr, h('div', {},
      addrNote,
      h('p', {}, addrText),
      h('div', { class: 'actions' }, copyButton(() => addrText.textContent, 'Copy address', addrText, 'copy-address'), newAddrBtn),
      receiveErr)));
  if (!w.address) {
    api.address(w.id, { signal }).then((a) => { addrText.textContent = typeof a === 'string' ? a : (a && a.address) || ''; if (addrText.textContent) loadQR(addrText.textContent); }).catch((e) => { if (e.name !== 'AbortError') replace(qr, errorBox(e)); });
  }
  // The QR code of the address shown: the base address at first, then each
  // fresh one (the API draws only this wallet's own addresses). An answer
  // for an address no longer shown is dropped.
  const loadQR = (address) => {
    replace(qr, spinner('Loading QR code…'));
    const shown = () => ctx === current && addrText.textContent === address;
    api.addressQR(w.id, addrText.dataset.path ? address : '').then((blob) => new Promise((resolve, reject) => {
      const r = new FileReader();
      r.onload = () => resolve(r.result);
      r.onerror = () => reject(new Error('Cannot read the QR image.'));
      r.readAsDataURL(blob);
    })).then((url) => {
      if (!shown()) return;
      const ok = typeof url === 'string' && /^data:image\/(png|svg\+xml)[;,]/.test(url);
      replace(qr, ok ? h('img', { src: url, alt: 'QR code of the receive address', width: '192', height: '192', 'data-address': address }) : h('p', { class: 'muted' }, 'QR code unavailable.'));
    }).catch(() => { if (shown()) replace(qr, h('p', { class: 'muted' }, 'QR code unavailable.')); });
  };
  if (w.address) loadQR(w.address);
  newAddrBtn.addEventListener('click', async () => {
    receiveErr.show(null);
    busy(newAddrBtn, true, 'Getting an address…');
    try {
      const a = await api.newAddress(w.id);
      if (ctx !== current) return;
      if (!a || typeof a.address !== 'string' || !a.address) throw new Error('The API answered without an address.');
      addrText.textContent = a.address;
      addrText.dataset.path = String(a.path ?? '');
      addrNote.textContent = `A fresh receive address (path ${a.path ?? '?'}, index ${a.index ?? '?'}), never handed out before: use it for one payment. Send only ${w.network} bitcoin to it.`;
      loadQR(a.address);
      loadAddresses();
    } catch (e) {
      if (e.name === 'AbortError' || ctx !== current) return;
      receiveErr.show(e);
      // Gap limit: the list shows the unused addresses to use first.
      if (e instanceof ApiError && e.status === 409) loadAddresses();
    } finally {
      busy(newAddrBtn, false);
    }
  });

  // Balance.
  const balanceBody = h('div', {}, spinner('Loading balance…'));
  const balanceErr = errorSlot();
  const balance = h('section', { class: 'card', 'aria-labelledby': 'balance-h' },
    h('h2', { id: 'balance-h' }, 'Balance'), balanceBody, balanceErr);
  async function loadBalance() {
    try {
      const b = await api.balance(w.id, { signal });
      if (ctx !== current) return;
      balanceErr.show(null);
      replace(balanceBody, h('dl', { class: 'balance', id: 'balance' },
        [['Confirmed', b.confirmed, 'confirmed'], ['Unconfirmed', b.unconfirmed, 'unconfirmed'], ['Locked', b.locked, 'locked'], ['Immature', b.immature, 'immature'], ['Total', b.total, 'total']]
          .filter(([, v, k]) => k !== 'immature' || v)
          .map(([label, v, k]) => h('div', { class: `bal bal-${k}` }, h('dt', {}, label), h('dd', { dataset: { sats: String(v ?? 0) } }, btcAmount(v ?? 0))))));
    } catch (e) {
      if (e.name !== 'AbortError' && ctx === current) balanceErr.show(e);
    }
  }

  // Addresses handed out, with their use.
  const addressesBody = h('div', {}, spinner('Loading addresses…'));
  const addressesErr = errorSlot();
  const addresses = h('section', { class: 'card', 'aria-labelledby': 'addresses-h' },
    h('h2', { id: 'addresses-h' }, 'Addresses'),
    h('p', { class: 'muted' }, 'Every address of this wallet: its base address, the receive addresses handed out and the change addresses. “Used” means a payment to it has been seen.'),
    addressesBody, addressesErr);
  const branchName = { base: 'Base', receive: 'Receive', change: 'Change' };
  async function loadAddresses() {
    try {
      const list = await api.addresses(w.id, { signal });
      if (ctx !== current) return;
      addressesErr.show(null);
      if (!Array.isArray(list) || list.length === 0) {
        replace(addressesBody, h('p', { class: 'empty' }, 'No addresses yet.'));
        return;
      }
      const unused = list.filter((a) => a.branch === 'receive' && !a.used).length;
      replace(addressesBody,
        h('p', { class: 'muted', id: 'addresses-summary' }, `${list.length} address${list.length === 1 ? '' : 'es'}; ${unused} receive address${unused === 1 ? '' : 'es'} handed out and not used yet (at most 20).`),
        h('div', { class: 'table-wrap' }, h('table', { class: 'list', id: 'addresses' },
          h('thead', {}, h('tr', {}, ['Kind', 'Path', 'Address', 'Use', 'Created'].map((c) => h('th', { scope: 'col' }, c)))),
          h('tbody', {}, list.map((a) => h('tr', { dataset: { address: String(a.address || ''), path: String(a.path ?? ''), branch: String(a.branch || ''), used: a.used ? 'true' : 'false' } },
            h('td', { dataset: { label: 'Kind' } }, branchName[a.branch] || String(a.branch || '')),
            h('td', { class: 'mono', dataset: { label: 'Path' } }, a.path ? String(a.path) : '—'),
            h('td', { class: 'mono', dataset: { label: 'Address' } }, String(a.address || '')),
            h('td', { dataset: { label: 'Use' } }, h('span', { class: `badge ${a.used ? 'used' : 'unused'}` }, a.used ? 'used' : 'unused')),
            h('td', { dataset: { label: 'Created' } }, fmtTime(a.created_at))))))));
    } catch (e) {
      if (e.name === 'AbortError' || ctx !== current) return;
      if (addressesBody.querySelector('.spinner')) replace(addressesBody); // first load: no list to keep
      addressesErr.show(e);
    }
  }

  // Descriptors for a watch-only wallet elsewhere.
  const descBody = h('div', {}, spinner('Loading descriptors…'));
  const descriptor = h('section', { class: 'card', 'aria-labelledby': 'desc-h' },
    h('h2', { id: 'desc-h' }, 'Descriptors (watch-only)'),
    h('p', { class: 'muted' }, 'Import these output descriptors into Bitcoin Core (importdescriptors), Sparrow or another wallet to watch this wallet’s addresses and balance elsewhere. Whoever holds them can list and link every address and payment of the wallet, but cannot spend.'),
    descBody);
  api.descriptor(w.id, { signal }).then((d) => {
    if (ctx !== current) return;
    const rows = [['Receive', d.receive, 'receive'], ['Change', d.change, 'change'], ['Base address', d.base, 'base'], ['Extended public key', d.xpub, 'xpub']]
      .filter(([, v]) => typeof v === 'string' && v !== '')
      .map(([label, v, k]) => {
        const code = h('code', { class: 'address descriptor', id: `desc-${k}` }, v);
        return h('div', {}, h('dt', {}, label), h('dd', {}, code, ' ', copyButton(() => v, 'Copy', code, `copy-desc-${k}`)));
      });
    replace(descBody, h('dl', { class: 'kv descriptors', id: 'descriptors' }, rows,
      d.fingerprint ? h('div', {}, h('dt', {}, 'Key fingerprint'), h('dd', {}, h('code', {}, String(d.fingerprint)))) : null,
      d.gap_limit ? h('div', {}, h('dt', {}, 'Gap limit'), h('dd', {}, `${d.gap_limit} (a scanner must look this many unused addresses past the last used one)`)) : null));
  }).catch((e) => { if (e.name !== 'AbortError' && ctx === current) replace(descBody, errorBox(e)); });

  // The recovery path, if the wallet has one.
  let recovery = null;
  if (w.recovery && typeof w.recovery === 'object') {
    const r = w.recovery;
    const desc = h('code', { class: 'address descriptor', id: 'recovery-descriptor' }, String(r.descriptor || ''));
    const blocks = Number(r.older) || 0;
    recovery = h('section', { class: 'card', 'aria-labelledby': 'recovery-h', id: 'recovery' },
      h('h2', { id: 'recovery-h' }, 'Recovery path'),
      h('p', { class: 'muted' }, `A payment left unmoved for ${blocks} blocks (about ${Math.round(blocks / 144 * 10) / 10} days) can also be spent by the recovery key alone, without the HSM (vhsm recover --descriptor). Until then only the HSM can spend it.`),
      h('dl', { class: 'kv' },
        h('div', {}, h('dt', {}, 'Timelock'), h('dd', { id: 'recovery-older' }, `${blocks} blocks`)),
        h('div', {}, h('dt', {}, 'Recovery key'), h('dd', {}, h('code', { class: 'address' }, String(r.xpub || '')))),
        r.descriptor ? h('div', {}, h('dt', {}, 'Descriptor'), h('dd', {}, desc, ' ', copyButton(() => desc.textContent, 'Copy', desc, 'copy-recovery'))) : null));
  }

  // History, with "Bump fee" on sends still waiting for a confirmation.
  const historyBody = h('div', {}, spinner('Loading transactions…'));
  const historyErr = errorSlot();
  const bumpSlot = h('div', { class: 'bump-slot', 'aria-live': 'polite' });
  const olderBtn = h('button', { type: 'button', class: 'secondary small', id: 'load-older', hidden: true }, 'Load older transactions');
  const history = h('section', { class: 'card', 'aria-labelledby': 'history-h' },
    h('h2', { id: 'history-h' }, 'History'), historyBody, h('div', { class: 'actions' }, olderBtn), historyErr, bumpSlot);
  let historySig = '';
  // The refresh reads the newest page; older pages are read on demand with
  // the cursor, which stays valid while new transactions arrive. shown is
  // what the table lists, newest first: the newest page, then whatever was
  // listed before that is not in it (older pages, and rows pushed out of
  // the newest page by new transactions).
  let shown = [];
  let olderCursor = null; // next_cursor after the last row listed
  let pagedOlder = false; // an older page was read: olderCursor follows it
  const pageOf = (page) => (Array.isArray(page)
    ? { txs: page, next: null } // an API without pages: the whole history
    : { txs: (page && Array.isArray(page.transactions)) ? page.transactions : [], next: (page && typeof page.next_cursor === 'string' && page.next_cursor) || null });
  olderBtn.addEventListener('click', async () => {
    if (!olderCursor) return;
    historyErr.show(null);
    busy(olderBtn, true, 'Loading…');
    try {
      const p = pageOf(await api.transactions(w.id, { signal }, HISTORY_PAGE, olderCursor));
      if (ctx !== current) return;
      const ids = new Set(shown.map((t) => t.id));
      shown = shown.concat(p.txs.filter((t) => !ids.has(t.id)));
      olderCursor = p.next;
      pagedOlder = true;
      renderHistory();
    } catch (e) {
      if (e.name !== 'AbortError' && ctx === current) historyErr.show(e);
    } finally {
      busy(olderBtn, false);
    }
  });
  async function loadHistory() {
    try {
      const p = pageOf(await api.transactions(w.id, { signal }, HISTORY_PAGE));
      if (ctx !== current) return;
      const ids = new Set(p.txs.map((t) => t.id));
      shown = p.txs.concat(shown.filter((t) => !ids.has(t.id)));
      if (!pagedOlder) olderCursor = p.next;
      historyErr.show(null);
      renderHistory();
    } catch (e) {
      if (e.name !== 'AbortError' && ctx === current) historyErr.show(e);
    }
  }

  function renderHistory() {
    const txs = shown;
    olderBtn.hidden = !olderCursor;
    const sig = txs.map((t) => `${t.id}:${t.status}:${t.confirmations}`).join(',');
    if (sig !== historySig) {
      if (historySig !== '') loadAddresses(); // a payment may have used an address
      historySig = sig;
    }
    if (txs.length === 0) {
      replace(historyBody, h('p', { class: 'empty' }, 'No transactions yet.'));
      return;
    }
    replace(historyBody, h('div', { class: 'table-wrap' }, h('table', { class: 'list', id: 'history' },
      h('thead', {}, h('tr', {}, ['Date', '', 'Amount', 'Fee', 'Status', 'Transaction', ''].map((c) => h('th', { scope: 'col' }, c)))),
      h('tbody', {}, txs.map((t) => h('tr', { dataset: { id: t.id || '', txid: t.txid || '', status: t.status || '' } },
        h('td', { dataset: { label: 'Date' } }, fmtTime(t.created_at)),
        h('td', { dataset: { label: 'Direction' } }, t.direction === 'in' ? 'Received' : 'Sent'),
        h('td', { dataset: { label: 'Amount' } }, btcAmount(t.amount ?? 0)),
        h('td', { dataset: { label: 'Fee' } }, t.direction === 'in' ? '' : [`${formatSats(t.fee ?? 0)} sats`, t.fee_rate ? h('div', { class: 'muted tx-note' }, `${t.fee_rate} sat/vB`) : null]),
        h('td', { dataset: { label: 'Status' } }, statusBadge(t)),
        h('td', { class: 'mono', title: t.txid || '', dataset: { label: 'Transaction' } }, short(t.txid, 8),
          t.replaced_by ? h('div', { class: 'muted tx-note' }, `replaced by ${short(t.replaced_by, 8)}`) : null,
          t.replaces ? h('div', { class: 'muted tx-note' }, `fee bump of ${short(t.replaces, 8)}`) : null,
          t.error ? h('div', { class: 'tx-error' }, t.error) : null),
        h('td', { dataset: { label: 'Action' } }, bumpable(t)
          ? h('button', { type: 'button', class: 'secondary small bump', dataset: { tx: t.id || '' }, onclick: () => openBump(t) }, 'Bump fee')
          : null)))))));
  }

  let lastBump = null; // { tx, rate, key } of the last failed attempt: a retry reuses its key
  function openBump(t) {
    const err = errorSlot();
    const fast = estimates && Array.isArray(estimates.estimates) ? estimates.estimates.find((e) => e.target_blocks === 1) : null;
    const suggested = Math.max((Number(t.fee_rate) || 0) + 1, fast ? Number(fast.fee_rate) || 0 : 0);
    const rate = h('input', { type: 'text', name: 'bump_fee_rate', inputmode: 'numeric', autocomplete: 'off', value: String(suggested) });
    const submit = h('button', { type: 'submit', id: 'bump-submit' }, 'Bump fee');
    const cancel = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    const form = h('form', { class: 'preview bump', id: 'bump-form', novalidate: true },
      h('h3', {}, 'Bump fee'),
      h('p', {}, 'Replace transaction ', h('code', { class: 'txid' }, short(t.txid || t.id, 10)),
        ` (fee ${formatSats(t.fee ?? 0)} sats at ${t.fee_rate ?? '?'} sat/vB) with one paying a higher fee rate (BIP-125 replace-by-fee). The recipients and amounts stay the same; the extra fee comes out of the change.`),
      field('New fee rate (sat/vB)', rate, `Above the current ${t.fee_rate ?? '?'} sat/vB${fast ? `; the node estimates ${fast.fee_rate} sat/vB for the next block` : ''}.`),
      err, h('div', { class: 'actions' }, submit, cancel));
    cancel.addEventListener('click', () => replace(bumpSlot));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      err.show(null);
      let r;
      try {
        r = parseInteger(rate.value, 'the fee rate', MAX_FEE_RATE);
        if (r < 1n) throw new Error('The fee rate must be at least 1 sat/vB.');
      } catch (e) {
        err.show(e);
        rate.focus();
        return;
      }
      const key = lastBump && lastBump.tx === t.id && lastBump.rate === r ? lastBump.key : newIdempotencyKey();
      lastBump = { tx: t.id, rate: r, key };
      busy(submit, true, 'Signing the replacement…');
      cancel.disabled = true;
      try {
        const nt = await api.bump(w.id, t.id, { fee_rate: Number(r) }, key);
        if (ctx !== current) return;
        lastBump = null;
        replace(bumpSlot, h('div', { class: 'sent', role: 'status', id: 'bump-result' },
          h('strong', {}, 'Fee bumped.'), ' ',
          h('span', {}, `The replacement pays ${formatSats(nt.fee ?? 0)} sats (${nt.fee_rate ?? '?'} sat/vB). `),
          nt.txid ? [h('span', {}, 'Transaction ID '), h('code', { class: 'txid' }, nt.txid), ' ', copyButton(() => nt.txid)] : null));
        loadBalance();
        loadHistory();
      } catch (e) {
        if (ctx !== current) return;
        err.show(e);
        // A refusal (4xx other than a timeout or rate limit) will not succeed
        // on retry: the next attempt gets a new key.
        if (e instanceof ApiError && e.status >= 400 && e.status < 500 && e.status !== 408 && e.status !== 429) lastBump = null;
      } finally {
        busy(submit, false);
        cancel.disabled = false;
      }
    });
    replace(bumpSlot, form);
    rate.focus();
    rate.select();
  }

  const send = sendForm(ctx, w, () => { loadBalance(); loadHistory(); }, (est) => { estimates = est; });

  replace(view, ...walletHeader(w, 'Bitcoin'), h('div', { class: 'grid' }, receive, balance), send, history, addresses, descriptor, recovery);
  focusHeading();
  loadBalance();
  loadHistory();
  loadAddresses();
  ctx.timers.push(setInterval(() => { if (!document.hidden) { loadBalance(); loadHistory(); } }, REFRESH_MS));
}

// bumpable reports whether t is a send still waiting for a confirmation
// (a fee bump can replace it).
function bumpable(t) {
  return t.direction !== 'in' && t.status === 'broadcast' && !t.replaced_by && !(t.confirmations > 0);
}

function statusBadge(t) {
  const status = String(t.status || 'unknown');
  let text = status;
  if (status === 'confirmed' && t.confirmations) text = `confirmed (${t.confirmations})`;
  return h('span', { class: `badge status status-${status.replace(/[^a-z]/g, '')}` }, text);
}

// feeTargetLabel names a confirmation target in blocks.
function feeTargetLabel(n) {
  if (n === 1) return 'next block';
  if (n === 6) return '~1 hour';
  if (n === 144) return '~1 day';
  return `${n} blocks`;
}

function sendForm(ctx, w, refresh, onEstimates) {
  const err = errorSlot();
  const to = h('input', { type: 'text', name: 'address', autocomplete: 'off', spellcheck: 'false', required: true });
  const amount = h('input', { type: 'text', name: 'amount', inputmode: 'decimal', autocomplete: 'off' });
  const unit = h('select', { name: 'unit', 'aria-label': 'Unit' }, h('option', { value: 'btc' }, 'BTC'), h('option', { value: 'sat' }, 'sats'));
  const max = h('input', { type: 'checkbox', name: 'send_max', id: fieldId('max') });
  const feeRate = h('input', { type: 'text', name: 'fee_rate', inputmode: 'numeric', autocomplete: 'off', placeholder: 'estimate' });
  const note = h('input', { type: 'text', name: 'note', maxlength: '200', autocomplete: 'off' });
  const reviewBtn = h('button', { type: 'submit' }, 'Review');
  const preview = h('div', { class: 'preview-slot', 'aria-live': 'polite' });
  const amountId = fieldId('amount');
  amount.id = amountId;
  max.addEventListener('change', () => { amount.disabled = max.checked; invalidate(); });

  let pending = null; // the reviewed request: { body, key }
  let maxFeeRate = MAX_FEE_RATE;

  // Fee estimates of the wallet's network, next to the fee-rate field;
  // clicking one fills the field.
  const feeEst = h('div', { class: 'fee-estimates', id: 'fee-estimates', 'aria-live': 'polite' });
  api.feeEstimates(w.network, { signal: ctx.abort.signal }).then((est) => {
    if (ctx !== current || !est || !Array.isArray(est.estimates)) return;
    if (onEstimates) onEstimates(est);
    if (Number.isSafeInteger(est.max_fee_rate) && est.max_fee_rate > 0) maxFeeRate = BigInt(est.max_fee_rate);
    const fallback = est.estimates.some((e) => e.source === 'fallback');
    replace(feeEst,
      est.estimates.filter((e) => Number.isSafeInteger(e.target_blocks) && Number.isSafeInteger(e.fee_rate)).map((e) =>
        h('button', { type: 'button', class: 'secondary small fee-estimate', dataset: { target: String(e.target_blocks), rate: String(e.fee_rate), source: String(e.source || '') },
          title: `Estimate for confirmation within ${e.target_blocks} block${e.target_blocks === 1 ? '' : 's'} (${String(e.source || 'backend')})`,
          onclick: () => { feeRate.value = String(e.fee_rate); invalidate(); } }, `${feeTargetLabel(e.target_blocks)}: ${e.fee_rate} sat/vB`)),
      fallback ? h('small', { class: 'hint fee-fallback' }, 'The node has no estimate: these are the configured fallback rates, not market data.') : null);
  }).catch((e) => {
    if (e.name !== 'AbortError' && ctx === current) replace(feeEst, h('small', { class: 'hint' }, 'No fee estimates.'));
  });

  function invalidate() {
    if (pending && !pending.sending) {
      pending = null;
      replace(preview);
    }
  }

  const form = h('form', { class: 'card send', novalidate: true, 'aria-labelledby': 'send-h' },
    h('h2', { id: 'send-h' }, 'Send'),
    field('To address', to),
    h('div', { class: 'field' }, h('label', { for: amountId }, 'Amount'),
      h('div', { class: 'inline' }, amount, unit),
      h('div', { class: 'check' }, max, h('label', { for: max.id }, 'Send everything (amount = balance minus fee)'))),
    h('div', { class: 'field' }, h('label', { for: feeRate.id = fieldId('fee') }, 'Fee rate (sat/vB)'), h('div', { class: 'inline fee-row' }, feeRate, feeEst),
      h('small', { class: 'hint' }, 'Leave empty to use the node’s estimate, or pick one.')),
    field('Note (optional)', note, 'Stored encrypted by the HSM.'),
    err, h('div', { class: 'actions' }, reviewBtn), preview);
  for (const el of [to, amount, unit, feeRate, note]) el.addEventListener('input', invalidate);

  function buildBody() {
    const address = to.value.trim();
    if (!address) throw new Error('Enter the address to send to.');
    if (!/^[A-Za-z0-9]{14,100}$/.test(address)) throw new Error('The address has characters that no Bitcoin address has.');
    const body = {};
    if (max.checked) {
      body.outputs = [{ address, amount: 0 }];
      body.send_max = true;
    } else {
      const sats = parseSats(amount.value, unit.value);
      body.outputs = [{ address, amount: Number(sats) }];
    }
    if (feeRate.value.trim() !== '') {
      const r = parseInteger(feeRate.value, 'the fee rate', maxFeeRate);
      if (r < 1n) throw new Error('The fee rate must be at least 1 sat/vB.');
      body.fee_rate = Number(r);
    }
    if (note.value.trim()) body.note = note.value.trim();
    return body;
  }

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    err.show(null);
    let body;
    try {
      body = buildBody();
    } catch (e) {
      err.show(e);
      return;
    }
    busy(reviewBtn, true, 'Building…');
    replace(preview, spinner('Building the transaction (dry run)…'));
    try {
      const tx = await api.send(w.id, { ...body, dry_run: true });
      if (ctx !== current) return;
      // The confirmed send pays the reviewed fee rate, so the broadcast fee
      // matches the preview even when the node's estimate moves.
      const final = { ...body };
      if (final.fee_rate === undefined && tx.fee_rate > 0) final.fee_rate = tx.fee_rate;
      pending = { body: final, key: null, sending: false };
      showPreview(tx);
    } catch (e) {
      replace(preview);
      if (ctx === current) err.show(e);
    } finally {
      busy(reviewBtn, false);
    }
  });

  function showPreview(tx) {
    const amountSats = BigInt(tx.amount ?? 0);
    const fee = BigInt(tx.fee ?? 0);
    const confirmBtn = h('button', { type: 'button', class: 'danger', id: 'confirm-send' }, 'Confirm and send');
    const cancelBtn = h('button', { type: 'button', class: 'secondary' }, 'Cancel');
    const progress = h('div', { class: 'progress-slot', 'aria-live': 'polite' });
    const sendErr = errorSlot();
    const rows = [
      ['To', h('code', { class: 'address' }, pending.body.outputs[0].address)],
      ['Amount', btcAmount(amountSats)],
      ['Fee', h('span', {}, `${formatSats(fee)} sats`, h('span', { class: 'muted' }, ` (${tx.fee_rate ?? '?'} sat/vB × ${tx.vsize ?? '?'} vB)`))],
      ['Size', `${tx.vsize ?? '?'} vB, ${tx.inputs ?? '?'} input${tx.inputs === 1 ? '' : 's'}`],
      ['Change', btcAmount(tx.change ?? 0)],
      ['Total leaving the wallet', h('strong', {}, btcAmount(amountSats + fee))],
    ];
    // A fee the review flags needs an explicit acceptance, sent as
    // accept_high_fee: true (the API refuses the send without it).
    let accept = null;
    let warning = null;
    if (tx.high_fee) {
      accept = h('input', { type: 'checkbox', name: 'accept_high_fee', id: fieldId('accept') });
      warning = h('div', { class: 'warning', role: 'alert', id: 'fee-warning' },
        h('strong', {}, 'High fee'),
        h('p', {}, String(tx.fee_warning || 'The fee is unusually high for this payment.')),
        h('p', {}, `This send pays ${formatSats(fee)} sats in fees${amountSats > 0n ? ` (${(Number(fee * 10000n / amountSats) / 100).toFixed(2)} % of the amount)` : ''}. Check the fee rate before you go on.`),
        h('div', { class: 'check' }, accept, h('label', { for: accept.id }, `I accept this fee of ${formatSats(fee)} sats.`)));
      confirmBtn.disabled = true;
      accept.addEventListener('change', () => { if (!pending || !pending.sending) confirmBtn.disabled = !accept.checked; });
    }
    const card = h('div', { class: 'preview', id: 'send-preview' },
      h('h3', {}, 'Review'),
      h('dl', { class: 'review' }, rows.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v)))),
      warning, sendErr, progress, h('div', { class: 'actions' }, confirmBtn, cancelBtn));
    cancelBtn.addEventListener('click', () => { pending = null; replace(preview); reviewBtn.focus(); });
    confirmBtn.addEventListener('click', async () => {
      if (!pending || pending.sending) return;
      if (accept && !accept.checked) return;
      if (accept) {
        pending.body.accept_high_fee = true;
        accept.disabled = true; // the key's body is fixed from here
      }
      // One Idempotency-Key per send attempt; a retry of this same reviewed
      // send reuses it, so it can never pay twice.
      if (!pending.key) pending.key = newIdempotencyKey();
      pending.sending = true;
      sendErr.show(null);
      busy(confirmBtn, true, 'Sending…');
      cancelBtn.disabled = true;
      replace(progress, spinner('Signing with the replicas and broadcasting…'));
      try {
        const sent = await api.send(w.id, pending.body, pending.key);
        if (ctx !== current) return;
        pending = null;
        form.reset();
        amount.disabled = false;
        replace(preview, h('div', { class: 'sent', role: 'status', id: 'send-result' },
          h('strong', {}, sent.status === 'broadcast' || sent.status === 'confirmed' ? 'Sent.' : `Transaction ${sent.status}.`), ' ',
          statusBadge(sent), ' ', h('span', {}, `${formatBTC(sent.amount ?? 0)} BTC, fee ${formatSats(sent.fee ?? 0)} sats. `),
          sent.txid ? [h('span', {}, 'Transaction ID '), h('code', { class: 'txid' }, sent.txid), ' ', copyButton(() => sent.txid)] : null,
          sent.error ? h('p', { class: 'tx-error' }, sent.error) : null));
        refresh();
      } catch (e) {
        if (ctx !== current) return;
        pending.sending = false;
        sendErr.show(e);
        replace(progress);
        busy(confirmBtn, false);
        confirmBtn.textContent = 'Retry send';
        if (e instanceof ApiError && e.type.endsWith('/high-fee')) {
          // The fee changed since the review (or the review missed it):
          // review again, the warning then asks for the acceptance.
          sendErr.show(new Error(`${e.detail} Review the send again.`));
        }
        cancelBtn.disabled = false;
        // A refused request (4xx but not a timeout/conflict in flight) will not
        // succeed on retry with the same key; start over from review.
        if (e instanceof ApiError && e.status >= 400 && e.status < 500 && e.status !== 408 && e.status !== 429) {
          confirmBtn.hidden = true;
        }
      }
    });
    replace(preview, card);
    confirmBtn.focus();
  }

  return form;
}

// ---- validator view ----

async function renderValidator(ctx, w) {
  let v = w;
  try {
    v = await api.getValidator(w.id, { signal: ctx.abort.signal });
  } catch (e) {
    if (e.name === 'AbortError') return;
    // Fall back to the wallet record.
  }
  if (ctx !== current) return;
  const details = h('section', { class: 'card', 'aria-labelledby': 'val-h' },
    h('h2', { id: 'val-h' }, 'Validator'),
    h('dl', { class: 'kv' },
      h('div', {}, h('dt', {}, 'Public key'), h('dd', {}, h('code', { class: 'address', id: 'validator-pubkey' }, v.public_key || ''), ' ', copyButton(() => v.public_key || ''))),
      v.withdrawal_address ? h('div', {}, h('dt', {}, 'Withdrawal address'), h('dd', {}, h('code', {}, v.withdrawal_address))) : null,
      h('div', {}, h('dt', {}, 'Credentials'), h('dd', {}, v.compounding ? '0x02 (compounding)' : '0x01 (execution address)')),
      v.validator_index !== undefined && v.validator_index !== null ? h('div', {}, h('dt', {}, 'Validator index'), h('dd', {}, String(v.validator_index))) : null,
      h('div', {}, h('dt', {}, 'Created'), h('dd', {}, fmtTime(v.created_at)))));

  // Deposit data.
  const depErr = errorSlot();
  const depAmount = h('input', { type: 'text', name: 'amount_eth', inputmode: 'decimal', value: '32', autocomplete: 'off' });
  const depBtn = h('button', { type: 'submit', id: 'download-deposit' }, 'Download deposit data');
  const depOut = h('div', { class: 'progress-slot', 'aria-live': 'polite' });
  const depForm = h('form', { class: 'card', novalidate: true, 'aria-labelledby': 'dep-h' },
    h('h2', { id: 'dep-h' }, 'Deposit'),
    h('p', { class: 'muted' }, 'A signed deposit_data JSON file for the Ethereum launchpad or the deposit contract.'),
    field('Amount (ETH)', depAmount, v.compounding ? '1 to 2048 ETH for compounding credentials.' : '32 ETH for 0x01 credentials.'),
    depErr, h('div', { class: 'actions' }, depBtn), depOut);
  depForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    depErr.show(null);
    let gwei;
    try {
      gwei = parseDecimal(depAmount.value, 9, 'the amount in ETH');
      if (gwei < GWEI_PER_ETH) throw new Error('The deposit must be at least 1 ETH.');
      if (gwei > MAX_UINT64) throw new Error('The amount is too large.');
    } catch (e) {
      depErr.show(e);
      return;
    }
    busy(depBtn, true, 'Signing…');
    replace(depOut, spinner('Signing the deposit with the replicas…'));
    try {
      const text = await api.depositData(v.id, `{"amount_gwei":${gwei.toString()}}`);
      if (ctx !== current) return;
      const parsed = JSON.parse(text);
      const entries = Array.isArray(parsed) ? parsed : [parsed];
      // deposit_data files are JSON arrays of entries, as the deposit CLI writes.
      const file = Array.isArray(parsed) ? text.trim() : `[${text.trim()}]`;
      const name = `deposit_data-${v.network}-${String(v.public_key || v.id).replace(/^0x/, '').slice(0, 8)}-${Math.floor(Date.now() / 1000)}.json`;
      download(name, file);
      const e0 = entries[0] || {};
      replace(depOut, h('div', { class: 'sent', role: 'status', id: 'deposit-result' },
        h('strong', {}, `Downloaded ${name}.`), ' ',
        h('span', {}, `${formatUnits(gwei, 9)} ETH`),
        e0.deposit_data_root ? [h('br'), 'deposit_data_root ', h('code', {}, String(e0.deposit_data_root))] : null));
    } catch (e) {
      if (ctx !== current) return;
      replace(depOut);
      depErr.show(e instanceof SyntaxError ? new Error('The API answered with something that is not JSON.') : e);
    } finally {
      busy(depBtn, false);
    }
  });

  // Voluntary exit.
  const exitErr = errorSlot();
  const index = h('input', { type: 'text', name: 'validator_index', inputmode: 'numeric', autocomplete: 'off', value: v.validator_index ?? '' });
  const epoch = h('input', { type: 'text', name: 'epoch', inputmode: 'numeric', autocomplete: 'off' });
  const exitBtn = h('button', { type: 'submit', class: 'danger', id: 'create-exit' }, 'Sign voluntary exit');
  const exitOut = h('div', { class: 'progress-slot', 'aria-live': 'polite' });
  const exitForm = h('form', { class: 'card', novalidate: true, 'aria-labelledby': 'exit-h' },
    h('h2', { id: 'exit-h' }, 'Voluntary exit'),
    h('p', { class: 'muted' }, 'Signs a SignedVoluntaryExit. Nothing is broadcast: submit it to a beacon node (vhsm broadcast eth). An exit cannot be undone.'),
    h('div', { class: 'inline-fields' }, field('Validator index', index), field('Epoch', epoch)),
    exitErr, h('div', { class: 'actions' }, exitBtn), exitOut);
  exitForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    exitErr.show(null);
    let bodyText;
    try {
      const i = parseInteger(index.value, 'the validator index');
      const ep = parseInteger(epoch.value, 'the epoch');
      // Built from the exact digits: uint64 values stay exact in JSON.
      bodyText = `{"validator_index":${i.toString()},"epoch":${ep.toString()}}`;
    } catch (e) {
      exitErr.show(e);
      return;
    }
    busy(exitBtn, true, 'Signing…');
    replace(exitOut, spinner('Signing the exit with the replicas…'));
    try {
      const text = await api.exit(v.id, bodyText);
      if (ctx !== current) return;
      let pretty = text;
      try { pretty = JSON.stringify(JSON.parse(text), null, 2); } catch { /* show as is */ }
      const name = `exit-${v.network}-${index.value.trim()}-${epoch.value.trim()}.json`;
      replace(exitOut, h('div', { class: 'exit-result', id: 'exit-result' },
        h('h3', {}, 'Signed voluntary exit'),
        h('pre', { class: 'json', tabindex: '0' }, pretty),
        h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'secondary', id: 'download-exit', onclick: () => download(name, text) }, 'Download exit JSON'),
          copyButton(() => text, 'Copy JSON'))));
    } catch (e) {
      if (ctx !== current) return;
      replace(exitOut);
      exitErr.show(e);
    } finally {
      busy(exitBtn, false);
    }
  });

  replace(view, ...walletHeader(v, 'Validator'), details, slashingCard(ctx, v), depForm, exitForm);
  focusHeading();
}

// slashingCard shows the validator's slashing-protection record (what the
// replicas will never sign below or around again) from the network's
// EIP-3076 export, and lets an admin download the interchange file.
function slashingCard(ctx, v) {
  const body = h('div', { id: 'slashing-record' }, spinner('Loading the slashing protection…'));
  const err = errorSlot();
  const exportBtn = h('button', { type: 'button', class: 'secondary', id: 'export-slashing' }, 'Export interchange file (EIP-3076)');
  const out = h('div', { class: 'progress-slot', 'aria-live': 'polite' });
  const card = h('section', { class: 'card', 'aria-labelledby': 'slash-h', id: 'slashing' },
    h('h2', { id: 'slash-h' }, 'Slashing protection'),
    h('p', { class: 'muted' }, 'The replicas refuse to sign a block at or below the highest slot signed, or an attestation that could surround or repeat one already signed (EIP-3076). The export is the standard interchange file for moving validators between signers; it needs an admin token.'),
    body, err, h('div', { class: 'actions' }, exportBtn), out);
  const adminNote = (e) => (e instanceof ApiError && (e.status === 403 || e.status === 401)
    ? new Error(`${e.detail.replace(/[.\s]*$/, '.')} The slashing protection is read through the admin export: sign in with an admin token to see it.`) : e);

  api.slashingExport(v.network, true, { signal: ctx.abort.signal }).then((text) => {
    if (ctx !== current) return;
    const rec = slashingRecord(text, v.public_key);
    const row = (label, value, id, none) => h('div', {}, h('dt', {}, label), h('dd', { id, dataset: { value: value ?? '' } }, value ?? none));
    replace(body, h('dl', { class: 'kv' },
      row('Highest block slot', rec.slot, 'slashing-slot', 'no block signed'),
      row('Highest source epoch', rec.source, 'slashing-source', 'no attestation signed'),
      row('Highest target epoch', rec.target, 'slashing-target', 'no attestation signed')),
    rec.found ? null : h('p', { class: 'muted', id: 'slashing-empty' }, 'Nothing signed yet for this validator: no record in the export.'));
  }).catch((e) => {
    if (e.name === 'AbortError' || ctx !== current) return;
    replace(body);
    err.show(e instanceof SyntaxError ? new Error('The export is not JSON.') : adminNote(e));
    if (e instanceof ApiError && e.status === 403) exportBtn.hidden = true; // the download would be refused too
  });

  exportBtn.addEventListener('click', async () => {
    err.show(null);
    busy(exportBtn, true, 'Exporting…');
    replace(out, spinner('Exporting through the replicas’ log…'));
    try {
      const text = await api.slashingExport(v.network, false, { signal: ctx.abort.signal });
      if (ctx !== current) return;
      const doc = JSON.parse(text); // refuse to save something that is not JSON
      const n = Array.isArray(doc.data) ? doc.data.length : 0;
      const name = `slashing-protection-${v.network}-${Math.floor(Date.now() / 1000)}.json`;
      download(name, text);
      replace(out, h('div', { class: 'sent', role: 'status', id: 'slashing-export-result' },
        h('strong', {}, `Downloaded ${name}.`), ' ', `${n} validator${n === 1 ? '' : 's'} of ${v.network}.`));
    } catch (e) {
      if (e.name === 'AbortError' || ctx !== current) return;
      replace(out);
      err.show(e instanceof SyntaxError ? new Error('The export is not JSON.') : adminNote(e));
    } finally {
      busy(exportBtn, false);
    }
  });
  return card;
}

// ---- boot ----

document.getElementById('signout').addEventListener('click', () => {
  cleanup();
  clearToken();
  setFlash('Signed out.', 'info');
  go('#/signin');
});
window.addEventListener('hashchange', () => {
  if (flashKeep > 0) flashKeep -= 1;
  else setFlash('');
  route();
});
route();
