// Tiny DOM helpers. Text is always inserted as text nodes (never HTML).

// h creates an element. attrs: plain attributes (set with setAttribute),
// except keys starting with "on" (event listeners), "dataset" (object)
// and boolean properties (checked, disabled, selected, required, hidden).
// Children: nodes, strings (text nodes), arrays, or null/false (skipped).
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'dataset') {
      Object.assign(el.dataset, v);
    } else if (['checked', 'disabled', 'selected', 'required', 'hidden', 'value'].includes(k)) {
      el[k] = v;
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// replace empties el and appends children.
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// download saves text as a file through a Blob URL.
export function download(filename, text, type = 'application/json') {
  const blob = new Blob([text], { type });
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// spinner is a small progress indicator with a text label.
export function spinner(label) {
  return h('span', { class: 'progress', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), ' ', label);
}

let uid = 0;
// fieldId returns a fresh element id for label/input pairs.
export function fieldId(prefix) {
  uid += 1;
  return `${prefix}-${uid}`;
}
