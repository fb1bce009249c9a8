// Toasts (role=status live region) and modal dialogs (<dialog>, Esc closes).
import { h, icon, iconButton } from './dom.js';

export function toast(message, { kind = 'info', timeout = 4500 } = {}) {
  const region = document.getElementById('toasts');
  const t = h('div', { class: `toast toast-${kind}`, 'data-testid': 'toast' },
    icon(kind === 'error' ? 'alert' : 'check', 16), h('span', null, message));
  region.append(t);
  // At most three at a time: older ones make room (a burst of actions must not fill the screen).
  const shown = [...region.children].filter((x) => !x.classList.contains('leaving'));
  for (const old of shown.slice(0, Math.max(0, shown.length - 3))) { old.classList.add('leaving'); setTimeout(() => old.remove(), 200); }
  const remove = () => { t.classList.add('leaving'); setTimeout(() => t.remove(), 200); };
  setTimeout(remove, kind === 'error' ? Math.max(timeout, 7000) : timeout);
  t.addEventListener('click', remove);
}
export const toastError = (e) => toast(e && e.message ? e.message : String(e), { kind: 'error' });

/**
 * Generic modal. build(close) returns the body nodes. Resolves with the value passed to close().
 * Esc (native cancel) resolves undefined.
 */
export function modal({ title, testid, build, wide = false, onOpen }) {
  return new Promise((resolve) => {
    const titleId = `dlg-${Math.random().toString(36).slice(2)}`;
    const dlg = h('dialog', { class: `dialog${wide ? ' wide' : ''}`, 'aria-labelledby': titleId, 'data-testid': testid });
    let done = false;
    const close = (value) => {
      if (done) return; done = true;
      dlg.close();
      dlg.remove();
      resolve(value);
    };
    const head = h('header', { class: 'dialog-head' },
      h('h2', { id: titleId }, title),
      iconButton('close', 'Close dialog', { onclick: () => close(undefined) }));
    dlg.append(head, h('div', { class: 'dialog-body' }, build(close)));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); close(undefined); });
    dlg.addEventListener('click', (e) => { if (e.target === dlg) close(undefined); }); // backdrop
    document.body.append(dlg);
    dlg.showModal();
    if (onOpen) onOpen(dlg);
    else {
      const f = dlg.querySelector('[autofocus], input, select, textarea, .dialog-actions .btn-primary');
      if (f) f.focus();
    }
  });
}

export function confirmDialog({ title, message, confirmLabel = 'OK', danger = false, testid = 'confirm-dialog' }) {
  return modal({
    title, testid,
    build: (close) => [
      h('p', null, message),
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'btn', onclick: () => close(false) }, 'Cancel'),
        h('button', { type: 'button', class: `btn ${danger ? 'btn-danger' : 'btn-primary'}`, 'data-testid': 'confirm-ok', autofocus: true, onclick: () => close(true) }, confirmLabel)),
    ],
  }).then((v) => v === true);
}

/** Ask for one line of text. validate(value) returns an error string or null; submit may be async and throw. */
export function promptDialog({ title, label, value = '', confirmLabel = 'Save', testid = 'prompt-dialog', validate, submit, type = 'text' }) {
  return modal({
    title, testid,
    build: (close) => {
      const inputId = `in-${Math.random().toString(36).slice(2)}`;
      const input = h('input', { id: inputId, type, value, required: true, autocomplete: 'off', 'data-testid': `${testid}-input`, 'aria-describedby': `${inputId}-err` });
      const err = h('p', { class: 'field-error', id: `${inputId}-err`, role: 'alert' });
      const btn = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': `${testid}-submit` }, confirmLabel);
      const form = h('form', {
        class: 'form',
        onsubmit: async (e) => {
          e.preventDefault();
          const v = input.value.trim();
          const msg = validate ? validate(v) : (v ? null : 'Required');
          if (msg) { err.textContent = msg; input.setAttribute('aria-invalid', 'true'); input.focus(); return; }
          if (submit) {
            btn.disabled = true;
            try { close(await submit(v)); } catch (ex) { err.textContent = ex.message; input.focus(); } finally { btn.disabled = false; }
          } else close(v);
        },
      },
      h('label', { for: inputId }, label), input, err,
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'btn', onclick: () => close(undefined) }, 'Cancel'), btn));
      setTimeout(() => { input.focus(); input.select(); }, 0);
      return form;
    },
    onOpen: () => {},
  });
}

export function emptyState(iconName, title, text, ...extra) {
  return h('div', { class: 'empty' }, icon(iconName, 40), h('p', { class: 'empty-title' }, title), text ? h('p', { class: 'muted' }, text) : null, ...extra);
}

export function spinner(label = 'Loading') {
  return h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), h('span', { class: 'sr-only' }, label));
}

export function errorBox(e, retry) {
  return h('div', { class: 'error-box', role: 'alert' }, icon('alert', 20), h('span', null, e.message || String(e)),
    retry ? h('button', { type: 'button', class: 'btn', onclick: retry }, 'Try again') : null);
}

export function setTitle(t) { document.title = t ? `${t} · docmerge` : 'docmerge'; }
