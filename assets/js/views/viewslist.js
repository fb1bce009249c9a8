// All saved views (`#/views`): open, edit, delete, and put on the dashboard or in the sidebar
// with one tick (also those that are in neither, so none is ever out of reach).
import { h, icon, put } from '../dom.js';
import { patch, del, on, session } from '../api.js';
import { navigate } from '../router.js';
import { toast, toastError, confirmDialog, spinner, errorBox, emptyState, setTitle } from '../ui.js';
import { loadViews, viewHref, sortLabel } from '../savedviews.js';
import { viewDialog } from './viewdialog.js';

export async function viewsListView() {
  setTitle('Views');
  const main = document.getElementById('main');
  const st = { alive: true };
  const body = h('div', { class: 'card tags-card' }, spinner());
  const newBtn = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'new-view', 'aria-label': 'New view', onclick: async () => {
    const v = await viewDialog({});
    if (v) { toast(`Saved the view “${v.name}”.`); navigate(`/view/${v.id}`); }
  } }, icon('plus', 16), h('span', null, 'New view'));
  put(main, h('section', { class: 'views-list narrow', 'aria-labelledby': 'views-title', 'data-testid': 'views-page' },
    h('div', { class: 'view-head' }, h('div', { class: 'head-row' },
      h('h1', { class: 'view-title', id: 'views-title' }, icon('view', 22), h('span', null, 'Views')),
      h('div', { class: 'toolbar' }, newBtn))),
    h('p', { class: 'muted small' }, 'A view is a saved search with its sort and columns. Save one from a search or a filtered list, or make one here.'),
    body));

  async function flag(v, key, value) {
    try {
      await patch(`/views/${v.id}`, { [key]: value });
      await loadViews();
    } catch (e) { toastError(e); render(); }
  }
  async function remove(v) {
    const ok = await confirmDialog({ title: `Delete the view “${v.name}”?`, testid: 'delete-view-dialog', danger: true, confirmLabel: 'Delete view', message: 'Only the view goes: its documents stay where they are.' });
    if (!ok) return;
    try { await del(`/views/${v.id}`); toast(`Deleted the view “${v.name}”.`); await loadViews(); } catch (e) { toastError(e); }
  }

  function render() {
    if (!st.alive) return;
    const items = session.views;
    if (!items.length) { put(body, emptyState('view', 'No views yet', 'Save a search as a view with “Save as view”, or make one with New view.')); return; }
    put(body, h('div', { class: 'table-wrap' }, h('table', { class: 'table views-table', 'data-testid': 'views-table' },
      h('caption', { class: 'sr-only' }, 'Your saved views'),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'View'), h('th', { scope: 'col' }, 'Dashboard'), h('th', { scope: 'col' }, 'Sidebar'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
      h('tbody', null, items.map((v) => {
        const dash = h('input', { type: 'checkbox', checked: v.on_dashboard, 'aria-label': `Show ${v.name} on the dashboard`, 'data-testid': 'views-dashboard', onchange: (e) => flag(v, 'on_dashboard', e.target.checked) });
        const side = h('input', { type: 'checkbox', checked: v.in_sidebar, 'aria-label': `Show ${v.name} in the sidebar`, 'data-testid': 'views-sidebar', onchange: (e) => flag(v, 'in_sidebar', e.target.checked) });
        return h('tr', { 'data-testid': 'views-row', 'data-id': v.id },
          h('td', null, h('a', { href: viewHref(v.id), class: 'field-name' }, v.name),
            h('div', { class: 'muted small' }, v.query ? h('code', { class: 'query-chip' }, v.query) : 'Every document', ` · ${sortLabel(v.sort)}`)),
          h('td', { class: 'check-cell' }, h('span', { class: 'hide-lg muted small' }, 'Dashboard '), dash),
          h('td', { class: 'check-cell' }, h('span', { class: 'hide-lg muted small' }, 'Sidebar '), side),
          h('td', { class: 'actions' },
            h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'views-edit', onclick: async () => { const r = await viewDialog({ view: v }); if (r) toast(`Saved the view “${r.name}”.`); } }, icon('edit', 14), h('span', null, 'Edit')),
            h('button', { type: 'button', class: 'btn btn-small btn-danger-soft', 'data-testid': 'views-delete', onclick: () => remove(v) }, icon('trash', 14), h('span', null, 'Delete'))));
      })))));
  }

  const off = on('views', render);
  try { await loadViews(); render(); } catch (e) { put(body, errorBox(e, () => viewsListView())); }
  return () => { st.alive = false; off(); };
}
