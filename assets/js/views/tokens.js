// Personal API tokens: create (shown once), list, revoke.
import { h, icon, fmtDateTime, put } from '../dom.js';
import { get, post, del } from '../api.js';
import { toast, toastError, confirmDialog, modal, spinner, errorBox, setTitle } from '../ui.js';

export async function tokensView() {
  setTitle('API tokens');
  const main = document.getElementById('main');
  const body = h('div', { class: 'card' }, spinner());
  const name = h('input', { id: 'tok-name', required: true, maxlength: 100, autocomplete: 'off', placeholder: 'e.g. scanner at the office', 'data-testid': 'token-name' });
  const err = h('p', { class: 'field-error', role: 'alert' });
  const btn = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'token-create' }, icon('plus', 16), 'Create token');
  const form = h('form', { class: 'card form-inline', 'aria-labelledby': 'new-tok-h' },
    h('h2', { id: 'new-tok-h' }, 'New token'),
    h('p', { class: 'muted small' }, 'Tokens let scripts and apps use the API as you: send “Authorization: Bearer <token>”.'),
    h('div', { class: 'form-row' }, h('div', { class: 'field grow' }, h('label', { for: 'tok-name' }, 'Name'), name), btn), err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    const n = name.value.trim();
    if (!n) { err.textContent = 'Give the token a name so you recognise it later.'; name.focus(); return; }
    btn.disabled = true;
    try {
      const t = await post('/auth/tokens', { name: n });
      name.value = '';
      load();
      showToken(t);
    } catch (ex) { err.textContent = ex.message; } finally { btn.disabled = false; }
  });
  put(main, h('section', { class: 'tokens-view narrow', 'aria-labelledby': 'tok-title' },
    h('div', { class: 'view-head' }, h('h1', { class: 'view-title', id: 'tok-title' }, icon('key', 22), h('span', null, 'API tokens'))),
    form, body));

  function showToken(t) {
    modal({
      title: 'Token created', testid: 'token-dialog',
      build: (close) => {
        const out = h('input', { class: 'token-value mono', readonly: true, value: t.token, 'aria-label': 'New token', 'data-testid': 'token-value' });
        return [
          h('p', null, `Copy the token for “${t.name}” now. It will not be shown again.`),
          h('div', { class: 'copy-row' }, out, h('button', { type: 'button', class: 'btn', onclick: async () => {
            try { await navigator.clipboard.writeText(t.token); toast('Token copied.'); } catch { out.select(); toastError('Copy failed: select the text and copy it.'); }
          } }, icon('copy', 16), 'Copy')),
          h('div', { class: 'dialog-actions' }, h('button', { type: 'button', class: 'btn btn-primary', onclick: () => close(true) }, 'Done')),
        ];
      },
      onOpen: (dlg) => { const i = dlg.querySelector('.token-value'); i.focus(); i.select(); },
    });
  }

  async function load() {
    try {
      const r = await get('/auth/tokens');
      if (!r.items.length) { put(body, h('p', { class: 'muted' }, 'You have no API tokens.')); return; }
      put(body, h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': 'tokens-table' },
        h('caption', { class: 'sr-only' }, 'Your API tokens'),
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Name'), h('th', { scope: 'col' }, 'Created'), h('th', { scope: 'col', class: 'hide-sm' }, 'Last used'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
        h('tbody', null, r.items.map((t) => h('tr', { 'data-testid': 'token-row', 'data-token-id': t.id },
          h('td', null, h('strong', null, t.name)),
          h('td', { class: 'muted' }, fmtDateTime(t.created_at)),
          h('td', { class: 'muted hide-sm' }, t.last_used_at ? fmtDateTime(t.last_used_at) : 'Never'),
          h('td', { class: 'actions' }, h('button', { type: 'button', class: 'btn btn-small btn-danger-soft', 'data-testid': 'token-revoke', onclick: async () => {
            const ok = await confirmDialog({ title: 'Revoke token?', message: `Apps using “${t.name}” will stop working immediately.`, confirmLabel: 'Revoke', danger: true });
            if (!ok) return;
            try { await del(`/auth/tokens/${t.id}`); toast('Token revoked.'); load(); } catch (e) { toastError(e); }
          } }, 'Revoke'))))))));
    } catch (e) { put(body, errorBox(e, load)); }
  }
  await load();
}
