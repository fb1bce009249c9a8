// Admin: list users, add users, toggle admin/disabled, reset password.
import { h, icon, fmtDate, put } from '../dom.js';
import { get, post, patch, session } from '../api.js';
import { toast, toastError, promptDialog, spinner, errorBox, emptyState, setTitle } from '../ui.js';

export async function usersView() {
  setTitle('Users');
  const main = document.getElementById('main');
  if (!session.user || !session.user.is_admin) {
    put(main, emptyState('users', 'Administrators only', 'Ask an administrator to manage users.'));
    return;
  }
  const body = h('div', { class: 'card' }, spinner());
  const uname = h('input', { id: 'nu-name', required: true, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', 'data-testid': 'new-user-name' });
  const upass = h('input', { id: 'nu-pass', type: 'password', required: true, autocomplete: 'new-password', minlength: 8, 'data-testid': 'new-user-password' });
  const uadmin = h('input', { id: 'nu-admin', type: 'checkbox', 'data-testid': 'new-user-admin' });
  const err = h('p', { class: 'field-error', role: 'alert' });
  const addBtn = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'new-user-submit' }, icon('plus', 16), 'Add user');
  const form = h('form', { class: 'card form-inline', 'aria-labelledby': 'add-user-h' },
    h('h2', { id: 'add-user-h' }, 'Add a user'),
    h('div', { class: 'form-row' },
      h('div', { class: 'field' }, h('label', { for: 'nu-name' }, 'Username'), uname),
      h('div', { class: 'field' }, h('label', { for: 'nu-pass' }, 'Password'), upass),
      h('div', { class: 'field check' }, uadmin, h('label', { for: 'nu-admin' }, 'Administrator')),
      addBtn),
    err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (!uname.value.trim()) { err.textContent = 'Enter a username.'; uname.focus(); return; }
    if (upass.value.length < 8) { err.textContent = 'Use a password of at least 8 characters.'; upass.focus(); return; }
    addBtn.disabled = true;
    try {
      await post('/users', { username: uname.value.trim(), password: upass.value, is_admin: uadmin.checked });
      toast(`Added ${uname.value.trim()}.`);
      uname.value = ''; upass.value = ''; uadmin.checked = false;
      load();
    } catch (ex) { err.textContent = ex.message; } finally { addBtn.disabled = false; }
  });
  put(main, h('section', { class: 'users-view narrow', 'aria-labelledby': 'users-title' },
    h('div', { class: 'view-head' }, h('h1', { class: 'view-title', id: 'users-title' }, icon('users', 22), h('span', null, 'Users'))),
    form, body));

  async function update(u, change, msg) {
    try { await patch(`/users/${u.id}`, change); toast(msg); load(); } catch (e) { toastError(e); load(); }
  }

  async function load() {
    try {
      const r = await get('/users', { page_size: 500 });
      const table = h('table', { class: 'table', 'data-testid': 'users-table' },
        h('caption', { class: 'sr-only' }, 'Users'),
        h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Username'), h('th', { scope: 'col' }, 'Role'), h('th', { scope: 'col' }, 'Status'), h('th', { scope: 'col', class: 'hide-sm' }, 'Created'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
        h('tbody', null, r.items.map((u) => {
          const self = u.id === session.user.id;
          return h('tr', { 'data-testid': 'user-row', 'data-user-id': u.id },
            h('td', null, h('strong', null, u.username), self ? h('span', { class: 'muted small' }, ' (you)') : null),
            h('td', null, u.is_admin ? h('span', { class: 'badge state-ready' }, 'Admin') : 'User'),
            h('td', null, u.disabled ? h('span', { class: 'badge state-failed' }, 'Disabled') : 'Active'),
            h('td', { class: 'hide-sm muted' }, fmtDate(u.created_at)),
            h('td', { class: 'actions' },
              h('button', { type: 'button', class: 'btn btn-small', onclick: async () => {
                const pw = await promptDialog({ title: `New password for ${u.username}`, label: 'New password', type: 'password', confirmLabel: 'Set password', validate: (v) => (v.length < 8 ? 'Use at least 8 characters.' : null) });
                if (pw) update(u, { password: pw }, `Password changed for ${u.username}.`);
              } }, 'Reset password'),
              self ? null : h('button', { type: 'button', class: 'btn btn-small', onclick: () => update(u, { is_admin: !u.is_admin }, u.is_admin ? `${u.username} is no longer an administrator.` : `${u.username} is now an administrator.`) }, u.is_admin ? 'Remove admin' : 'Make admin'),
              self ? null : h('button', { type: 'button', class: `btn btn-small ${u.disabled ? '' : 'btn-danger-soft'}`, onclick: () => update(u, { disabled: !u.disabled }, u.disabled ? `${u.username} can sign in again.` : `${u.username} is disabled.`) }, u.disabled ? 'Enable' : 'Disable')));
        })));
      put(body, h('div', { class: 'table-wrap' }, table));
    } catch (e) { put(body, errorBox(e, load)); }
  }
  await load();
}
