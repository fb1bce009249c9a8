// Trash: list trashed folders/documents, restore, delete forever, empty.
import { h, icon, fmtDateTime, plural, debounce, put } from '../dom.js';
import { get, del, on, emit } from '../api.js';
import { href } from '../router.js';
import { toast, toastError, confirmDialog, spinner, errorBox, emptyState, setTitle } from '../ui.js';
import { restoreItems } from '../common.js';

const PAGE = 50;

export async function trashView() {
  setTitle('Trash');
  const main = document.getElementById('main');
  const st = { items: [], total: 0, alive: true };
  const emptyBtn = h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': 'empty-trash', disabled: true }, icon('trash', 16), h('span', null, 'Empty trash'));
  const body = h('div', { class: 'list-body' }, spinner());
  const countEl = h('span', { class: 'muted small' });
  const moreBtn = h('button', { type: 'button', class: 'btn', hidden: true }, 'Load more');
  put(main, h('section', { class: 'trash-view', 'aria-labelledby': 'trash-title' },
    h('div', { class: 'view-head' }, h('div', { class: 'head-row' },
      h('h1', { class: 'view-title', id: 'trash-title' }, icon('trash', 22), h('span', null, 'Trash')),
      h('div', { class: 'toolbar' }, emptyBtn))),
    h('p', { class: 'muted small' }, 'Items in the trash can be restored to where they were. Emptying the trash deletes them and their files for good.'),
    body));

  async function load(reset) {
    try {
      const page = reset ? 1 : Math.floor(st.items.length / PAGE) + 1;
      const size = reset ? Math.min(500, Math.max(PAGE, Math.ceil(st.items.length / PAGE) * PAGE)) : PAGE;
      const r = await get('/trash', { page, page_size: size });
      if (!st.alive) return;
      st.items = reset ? r.items : st.items.concat(r.items.filter((x) => !st.items.some((y) => y.type === x.type && y.id === x.id)));
      st.total = r.total;
      render();
    } catch (e) { put(body, errorBox(e, () => load(true))); }
  }
  const refresh = debounce(() => load(true), 300);

  function render() {
    emptyBtn.disabled = !st.items.length;
    if (!st.items.length) { put(body, emptyState('trash', 'The trash is empty', 'Things you delete appear here until you empty the trash.')); return; }
    const list = h('ul', { class: 'item-list trash-list', 'data-testid': 'trash-list' }, st.items.map((it) => {
      const isFolder = it.type === 'folder';
      const name = isFolder ? it.name : it.title;
      const restoreBtn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'restore-button', 'aria-label': `Restore ${name}`, onclick: async () => { restoreBtn.disabled = true; await restoreItems([{ type: it.type, id: it.id }]); load(true); } }, icon('restore', 16), h('span', null, 'Restore'));
      const purgeBtn = isFolder ? null : h('button', { type: 'button', class: 'btn btn-small btn-danger-soft', 'data-testid': 'purge-button', 'aria-label': `Delete ${name} forever`, onclick: () => purge(it) }, icon('close', 16), h('span', null, 'Delete forever'));
      return h('li', { class: 'row trash-row', 'data-testid': isFolder ? 'trash-folder' : 'trash-doc', 'data-doc-id': isFolder ? null : it.id, 'data-folder-id': isFolder ? it.id : null },
        h('span', { class: 'c-name' }, h('span', { class: 'thumb thumb-folder' }, icon(isFolder ? 'folder' : 'doc', 20)),
          h('span', { class: 'name-wrap' }, isFolder ? h('span', { class: 'row-title' }, name) : h('a', { href: href(`/doc/${it.id}`), class: 'row-link' }, name),
            h('span', { class: 'muted small' }, it.trashed_at ? `Deleted ${fmtDateTime(it.trashed_at)}` : (isFolder ? 'Folder' : 'Document')))),
        h('span', { class: 'c-actions show' }, restoreBtn, purgeBtn));
    }));
    countEl.textContent = `${st.items.length.toLocaleString()} of ${plural(st.total, 'item', 'items')}`;
    moreBtn.hidden = st.items.length >= st.total;
    put(body, list, h('div', { class: 'list-foot' }, countEl, moreBtn));
  }

  async function purge(it) {
    const ok = await confirmDialog({ title: 'Delete forever?', message: `“${it.title}” and its files will be deleted permanently. This cannot be undone.`, confirmLabel: 'Delete forever', danger: true });
    if (!ok) return;
    try { await del(`/documents/${it.id}/purge`); toast('Deleted permanently.'); load(true); } catch (e) { toastError(e); }
  }

  emptyBtn.addEventListener('click', async () => {
    const ok = await confirmDialog({
      title: 'Empty the trash?', testid: 'empty-trash-dialog',
      message: `${plural(st.total, 'item', 'items')} and all their files will be deleted permanently. This cannot be undone.`,
      confirmLabel: 'Empty trash', danger: true,
    });
    if (!ok) return;
    try { await del('/trash'); toast('The trash is empty.'); emit('changed', { kind: 'purge' }); load(true); } catch (e) { toastError(e); }
  });
  moreBtn.addEventListener('click', () => load(false));

  const off = on('event', (ev) => {
    if (/^(document\.(trashed|restored|deleted)|folder\.(trashed|restored))$/.test(ev.type)) refresh();
  });
  await load(true);
  return () => { st.alive = false; off(); refresh.cancel(); };
}
