// A saved view (`#/view/:id`): its documents in its sort, with its columns (custom fields read
// as on the document's page), fifty at a time (Load more and endless scrolling: never all of a
// large library at once). Select rows, or "Select all N matching" to edit everything the query
// matches with one bulk edit. Edit (name, query, sort, columns, dashboard, sidebar) and Delete
// in the header. Keyboard: ↑/↓, x, e, Enter (see common.js wireRowKeys).
import { h, icon, tagChip, fmtDate, fmtDay, plural, put, debounce } from '../dom.js';
import { get, del, on, session, thumbUrl } from '../api.js';
import { href, navigate } from '../router.js';
import { toast, toastError, confirmDialog, spinner, errorBox, emptyState, setTitle } from '../ui.js';
import { stateBadge, updateBadge, applyEventToDoc, moveItems, trashItems, trackSelectionBar, wireDocumentList, wireRowKeys, openDocRow, editDocRow } from '../common.js';
import { labelChip, labelHref, loadMetadata } from '../metadata.js';
import { columnLabel, sortLabel, loadViews, bulkQuery } from '../savedviews.js';
import { valueNode } from './docmeta.js';
import { viewDialog } from './viewdialog.js';
import { bulkEditDialog } from './bulkedit.js';
import { bulkTagDialog, bulkTagMessage } from './tagdialog.js';
import { pickFolder } from './movedialog.js';
import { isLive } from '../ws.js';

const PAGE = 50;
const ACTIVE = new Set(['queued', 'processing']);

/** Folder names for the Folder column, fetched once each. */
const folderNames = new Map();
function folderName(id) {
  const r = session.roots || {};
  if (r.home && r.home.id === id) return Promise.resolve('Home');
  if (r.inbox && r.inbox.id === id) return Promise.resolve('Inbox');
  if (!folderNames.has(id)) folderNames.set(id, get(`/folders/${id}`).then((f) => f.name).catch(() => 'a folder'));
  return folderNames.get(id);
}

/** How wide a column is in the grid: [its least width in px, its grid track]. */
function colWidth(c) {
  if (c === 'tags' || c.startsWith('field:')) return [100, 'minmax(100px, 1fr)'];
  if (c === 'correspondent' || c === 'type' || c === 'folder') return [90, 'minmax(90px, .8fr)'];
  if (c === 'state') return [120, '120px'];
  if (c === 'asn' || c === 'pages' || c === 'notes') return [56, '56px'];
  return [104, '104px'];
}

const none = () => h('span', { class: 'muted cell-none', 'aria-label': 'none' }, '–');

/** One cell of a document row for a column. */
export function columnCell(d, c) {
  switch (c) {
    case 'date': return d.date ? h('span', { class: 'written', title: fmtDay(d.date, { long: true }) }, fmtDay(d.date)) : none();
    case 'added': return h('span', { title: fmtDate(d.created_at) }, fmtDate(d.created_at));
    case 'correspondent': return d.correspondent ? h('a', { href: labelHref('correspondents', d.correspondent.id), class: 'chip-link', 'data-testid': 'row-correspondent' }, labelChip(d.correspondent)) : none();
    case 'type': return d.document_type ? h('a', { href: labelHref('document-types', d.document_type.id), class: 'chip-link', 'data-testid': 'row-doctype' }, labelChip(d.document_type)) : none();
    case 'tags': return (d.tags || []).length ? h('span', { class: 'row-tags' }, d.tags.map((t) => tagChip(t))) : none();
    case 'asn': return d.asn != null ? h('span', { class: 'mono' }, String(d.asn)) : none();
    case 'pages': return d.page_count ? String(d.page_count) : none();
    case 'notes': return d.note_count ? h('span', { class: 'cell-notes', title: plural(d.note_count, 'note', 'notes') }, icon('note', 14), String(d.note_count)) : none();
    case 'state': return stateBadge(d);
    case 'folder': {
      const a = h('a', { href: href(`/folder/${d.folder_id}`), class: 'row-folder' }, '…');
      folderName(d.folder_id).then((n) => { a.textContent = n; });
      return a;
    }
    default: {
      const m = /^field:(\d+)$/.exec(c);
      if (!m) return none();
      const f = (d.fields || []).find((x) => x.field_id === Number(m[1]));
      return f && f.value != null && !(Array.isArray(f.value) && !f.value.length) ? valueNode(f) : none();
    }
  }
}

export async function viewPage({ params }) {
  const main = document.getElementById('main');
  const viewId = Number(params.id);
  if (!Number.isInteger(viewId)) { navigate('/', null, { replace: true }); return undefined; }
  const st = { view: null, items: [], total: 0, done: false, loading: false, alive: true, selected: new Set(), anchor: null, allMatching: false };

  // ---- skeleton ----
  const titleEl = h('h1', { class: 'view-title', id: 'view-title' }, icon('view', 22), h('span', { 'data-testid': 'view-title' }, '\u00a0'));
  const queryLine = h('p', { class: 'view-query muted small', 'data-testid': 'view-query-line' });
  const editBtn = h('button', { type: 'button', class: 'btn', 'data-testid': 'view-edit', 'aria-label': 'Edit the view', title: 'Name, query, sort, columns, dashboard, sidebar', onclick: () => editView() }, icon('edit', 16), h('span', null, 'Edit'));
  const delBtn = h('button', { type: 'button', class: 'btn btn-danger-soft', 'data-testid': 'view-delete', 'aria-label': 'Delete the view', title: 'Delete the view (not its documents)', onclick: () => deleteView() }, icon('trash', 16), h('span', null, 'Delete'));
  const searchLink = h('a', { class: 'btn', 'data-testid': 'view-search', 'aria-label': 'Search', title: 'Open this query on the search page' }, icon('search', 16), h('span', null, 'Search'));

  const selCount = h('span', { class: 'sel-count', 'aria-live': 'polite', 'data-testid': 'selection-count' });
  const allBtn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'select-all-matching', onclick: () => { st.allMatching = true; st.items.forEach((x) => st.selected.add(x.id)); syncSelection(); } });
  const tagBtn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'tag-selected', onclick: () => tagSelected() }, icon('tag', 16), 'Tag…');
  const moveBtn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'move-selected', onclick: () => moveSelected() }, icon('move', 16), 'Move…');
  const trashBtn = h('button', { type: 'button', class: 'btn btn-small btn-danger-soft', 'data-testid': 'trash-selected', onclick: () => trashSelected() }, icon('trash', 16), 'Move to trash');
  const selBar = h('div', { class: 'selection-bar', 'data-testid': 'selection-bar', hidden: true },
    selCount, allBtn,
    h('button', { type: 'button', class: 'btn btn-small btn-primary', 'data-testid': 'edit-selected', onclick: () => editSelected() }, icon('edit', 16), 'Edit…'),
    tagBtn, moveBtn, trashBtn,
    h('span', { class: 'spacer' }),
    h('button', { type: 'button', class: 'btn btn-small', onclick: () => clearSelection() }, 'Clear selection'));
  const untrackBar = trackSelectionBar(selBar);

  const selectAll = h('input', { type: 'checkbox', 'aria-label': 'Select all loaded documents', 'data-testid': 'select-all' });
  const listHead = h('div', { class: 'list-head vrow-head' });
  const list = h('ul', { class: 'item-list vlist', 'data-testid': 'view-list', 'aria-label': 'Documents of the view', 'aria-multiselectable': 'true', 'aria-keyshortcuts': 'ArrowUp ArrowDown x e Enter' });
  const countEl = h('span', { class: 'muted small', 'data-testid': 'view-count' });
  const moreBtn = h('button', { type: 'button', class: 'btn', 'data-testid': 'load-more', hidden: true }, 'Load more');
  const keysHint = h('span', { class: 'muted small keys-hint' }, 'Keys: ↑ ↓ move · x select · Enter open · e edit · ? all keys');
  const foot = h('div', { class: 'list-foot' }, countEl, keysHint, moreBtn);
  const body = h('div', { class: 'list-body' }, spinner());
  const view = h('section', { class: 'saved-view', 'aria-labelledby': 'view-title', 'data-testid': 'view-page' },
    h('div', { class: 'view-head' },
      h('div', { class: 'head-row' }, titleEl, h('div', { class: 'toolbar' }, searchLink, editBtn, delBtn)),
      queryLine),
    body, selBar);
  put(main, view);

  // ---- header ----
  function renderHead() {
    const v = st.view;
    setTitle(v.name);
    titleEl.querySelector('[data-testid="view-title"]').textContent = v.name;
    put(queryLine,
      v.query ? h('code', { class: 'query-chip', 'data-testid': 'view-query-text' }, v.query) : h('span', null, 'Every document'),
      h('span', { class: 'flag' }, icon('sort', 12), sortLabel(v.sort)),
      v.on_dashboard ? h('span', { class: 'flag' }, icon('dashboard', 12), 'On the dashboard') : null,
      v.in_sidebar ? h('span', { class: 'flag' }, icon('menu', 12), 'In the sidebar') : null);
    searchLink.href = href('/search', { q: v.query || undefined, sort: v.sort });
    searchLink.hidden = !v.query;
    const cols = columns();
    const rest = cols.filter((c) => c !== 'title').map(colWidth);
    view.style.setProperty('--vcols', `28px minmax(180px, 2.2fr) ${rest.map((w) => w[1]).join(' ')}`);
    // Many columns: the table scrolls sideways rather than squeezing the titles.
    view.style.setProperty('--vmin', `${28 + 180 + rest.reduce((a, w) => a + w[0], 0) + 12 * (rest.length + 1) + 28}px`);
    put(listHead, h('span', { class: 'c-check' }, selectAll), ...cols.map((c) => h('span', { class: `vcell-h vc-${c.replace(':', '-')}` }, columnLabel(c))));
  }
  /** The view's columns, the title first (a row always needs its link). */
  function columns() {
    const c = (st.view.columns || []).filter((x) => x !== 'title');
    return ['title', ...c];
  }

  // ---- data ----
  async function loadView() {
    const v = (await get('/views')).items.find((x) => x.id === viewId);
    if (!v) { const e = new Error('This view does not exist (or was deleted).'); e.status = 404; throw e; }
    st.view = v;
  }
  const fetchPage = (page, size) => get(`/views/${viewId}/documents`, { page, page_size: size });

  async function loadMore() {
    if (st.loading || st.done) return;
    st.loading = true; moreBtn.disabled = true; moreBtn.textContent = 'Loading…';
    try {
      const r = await fetchPage(Math.floor(st.items.length / PAGE) + 1, PAGE);
      if (!st.alive) return;
      if (r.view) { st.view = r.view; renderHead(); }
      const have = new Set(st.items.map((x) => x.id));
      for (const it of r.items) if (!have.has(it.document.id)) st.items.push(it.document);
      st.total = r.total;
      st.capped = !!r.count_capped; // more match than were counted: the total is a floor
      st.done = st.items.length >= r.total || r.items.length < PAGE;
      if (st.allMatching) st.items.forEach((x) => st.selected.add(x.id));
      render();
    } catch (e) {
      if (!st.items.length) put(body, errorBox(e.status === 400 ? new Error(`This view’s query does not work: ${e.message} Edit the view to fix it.`) : e, e.status === 400 ? null : () => { st.done = false; put(body, spinner()); loadMore(); }));
      else toastError(e);
    } finally { st.loading = false; moreBtn.disabled = false; moreBtn.textContent = 'Load more'; }
  }

  async function refresh() {
    if (!st.alive || !st.view) return;
    try {
      const r = await fetchPage(1, Math.min(500, Math.max(PAGE, Math.ceil(st.items.length / PAGE) * PAGE)));
      if (!st.alive) return;
      st.items = r.items.map((x) => x.document);
      st.total = r.total;
      st.done = st.items.length >= r.total;
      const ids = new Set(st.items.map((x) => x.id));
      if (st.allMatching) st.items.forEach((x) => st.selected.add(x.id));
      for (const id of [...st.selected]) if (!ids.has(id)) st.selected.delete(id);
      if (!st.selected.size) st.allMatching = false;
      render();
    } catch { /* the next event tries again */ }
  }
  const scheduleRefresh = debounce(refresh, 400);

  // ---- rendering ----
  function buildRow(d) {
    const check = h('input', { type: 'checkbox', class: 'row-check', 'aria-label': `Select ${d.title}`, 'data-testid': 'row-check' });
    const thumb = d.state === 'ready' && d.page_count > 0
      ? h('span', { class: 'thumb' }, h('img', { src: thumbUrl(d.id, 1), alt: '', loading: 'lazy', decoding: 'async', draggable: 'false' }))
      : h('span', { class: 'thumb thumb-doc' }, icon('doc', 18));
    const title = h('span', { class: 'c-name vcell vc-title' }, thumb, h('span', { class: 'name-wrap' },
      h('span', { class: 'name-line' }, h('a', { class: 'row-link', href: href(`/doc/${d.id}`) }, d.title), ACTIVE.has(d.state) || d.state === 'failed' ? stateBadge(d) : null)));
    // The other cells: grid cells at full width, a wrapping line under the title on a phone.
    const meta = h('span', { class: 'vmeta' }, columns().filter((c) => c !== 'title').map((c) =>
      h('span', { class: `vcell vc-${c.replace(':', '-')}`, 'data-label': columnLabel(c), dataset: { column: c } }, columnCell(d, c))));
    const row = h('li', { class: 'row row-doc vrow', 'data-testid': 'doc-row', dataset: { docId: d.id }, 'aria-selected': 'false' },
      h('span', { class: 'c-check' }, check), title, meta);
    check.addEventListener('click', (e) => { e.stopPropagation(); toggle(d.id, e.shiftKey, check.checked); });
    row.addEventListener('click', (e) => {
      if (e.target.closest('a, button, input')) return;
      if (e.shiftKey) { e.preventDefault(); window.getSelection()?.removeAllRanges(); }
      toggle(d.id, e.shiftKey, !st.selected.has(d.id));
    });
    return row;
  }

  function render() {
    if (!st.items.length && st.done) {
      put(body, emptyState('view', 'No documents in this view', st.view.query ? 'Nothing matches the query now. Edit the view to change it.' : 'Upload documents and they show here.'));
      selBar.hidden = true; document.body.classList.remove('has-selection');
      return;
    }
    if (!body.contains(list)) put(body, h('div', { class: 'vtable' }, listHead, list), foot);
    put(list, st.items.map(buildRow));
    syncSelection();
    keys.sync();
    countEl.textContent = st.total ? `${st.items.length.toLocaleString()} of ${st.capped ? `more than ${st.total.toLocaleString()} documents` : plural(st.total, 'document', 'documents')}` : '';
    moreBtn.hidden = st.done;
  }

  // ---- selection ----
  function toggle(id, range, value) {
    st.allMatching = false;
    const idx = st.items.findIndex((x) => x.id === id);
    if (range && st.anchor != null) {
      const a = st.items.findIndex((x) => x.id === st.anchor);
      if (a >= 0 && idx >= 0) { const [lo, hi] = a < idx ? [a, idx] : [idx, a]; for (let i = lo; i <= hi; i++) st.selected.add(st.items[i].id); }
    } else if (value) st.selected.add(id); else st.selected.delete(id);
    st.anchor = id;
    syncSelection();
  }
  function clearSelection() { st.selected.clear(); st.allMatching = false; syncSelection(); }
  function syncSelection() {
    list.querySelectorAll('[data-testid="doc-row"]').forEach((row) => {
      const sel = st.selected.has(Number(row.dataset.docId));
      row.classList.toggle('selected', sel);
      row.setAttribute('aria-selected', String(sel));
      const c = row.querySelector('.row-check');
      if (c) c.checked = sel;
    });
    const n = st.selected.size;
    if (!n) st.allMatching = false;
    selBar.hidden = n === 0;
    document.body.classList.toggle('has-selection', n > 0);
    selCount.textContent = st.allMatching ? (st.capped ? 'All matching documents selected' : `All ${plural(st.total, 'matching document', 'matching documents')} selected`) : (n ? `${plural(n, 'document', 'documents')} selected` : '');
    allBtn.textContent = st.capped ? 'Select all matching' : `Select all ${st.total.toLocaleString()} matching`;
    allBtn.hidden = st.allMatching || !st.total;
    // Tag, move and trash go by ids: with every match selected, Edit… does all of it.
    for (const b of [tagBtn, moveBtn, trashBtn]) b.hidden = st.allMatching;
    selectAll.checked = n > 0 && n >= st.items.length;
    selectAll.indeterminate = n > 0 && n < st.items.length;
  }
  selectAll.addEventListener('change', () => {
    st.allMatching = false;
    if (selectAll.checked) st.items.forEach((x) => st.selected.add(x.id)); else st.selected.clear();
    syncSelection();
  });
  const selectedDocs = () => st.items.filter((x) => st.selected.has(x.id));

  // ---- actions ----
  async function editSelected() {
    const target = st.allMatching
      ? { query: bulkQuery(st.view.query), count: st.total, capped: !!st.capped }
      : { documents: selectedDocs().map((d) => d.id), count: st.selected.size };
    if (!target.count) return;
    const r = await bulkEditDialog(target);
    if (r && r.state === 'done') clearSelection();
    refresh();
  }
  async function tagSelected() {
    const docs = selectedDocs();
    if (!docs.length) return;
    const r = await bulkTagDialog(docs);
    if (!r) return;
    toast(bulkTagMessage(r));
    refresh();
  }
  async function moveSelected() {
    const docs = selectedDocs();
    if (!docs.length) return;
    const target = await pickFolder({ title: docs.length > 1 ? `Move ${docs.length} documents to…` : 'Move to…', startId: docs.length === 1 ? docs[0].folder_id : undefined });
    if (!target) return;
    await moveItems(docs.map((d) => ({ type: 'document', id: d.id })), target.id, target.name);
    refresh();
  }
  async function trashSelected() {
    if (st.allMatching) { editSelected(); return; }
    const docs = selectedDocs();
    if (!docs.length) return;
    const ok = await confirmDialog({
      title: 'Move to trash?', confirmLabel: 'Move to trash', danger: true,
      message: docs.length === 1 ? `“${docs[0].title}” will be moved to the trash. You can restore it from there.` : `${docs.length} documents will be moved to the trash. You can restore them from there.`,
    });
    if (!ok) return;
    await trashItems(docs.map((d) => ({ type: 'document', id: d.id })));
    for (const d of docs) st.selected.delete(d.id);
    refresh();
  }

  async function editView() {
    const v = await viewDialog({ view: st.view });
    if (!v) return;
    toast(`Saved the view “${v.name}”.`);
    st.view = v;
    renderHead();
    st.items = []; st.done = false; st.selected.clear(); st.allMatching = false;
    put(body, spinner());
    loadMore();
  }
  async function deleteView() {
    const ok = await confirmDialog({
      title: `Delete the view “${st.view.name}”?`, testid: 'delete-view-dialog', danger: true, confirmLabel: 'Delete view',
      message: 'Only the view goes: its documents stay where they are.',
    });
    if (!ok) return;
    try {
      await del(`/views/${viewId}`);
      toast(`Deleted the view “${st.view.name}”.`);
      await loadViews().catch(() => {});
      navigate('/');
    } catch (e) { toastError(e); }
  }

  // ---- keyboard and list wiring ----
  const keys = wireRowKeys({
    rows: () => [...list.querySelectorAll('[data-testid="doc-row"]')],
    keyOf: (row) => row.dataset.docId,
    toggle: (row) => { const id = Number(row.dataset.docId); toggle(id, false, !st.selected.has(id)); },
    open: openDocRow, edit: editDocRow,
  });
  const sortSel = h('select', { hidden: true }); // views keep their own sort (Edit changes it)
  const unwireList = wireDocumentList({
    st, sortSel, sortKey: 'docmerge.viewSort', loadMore, moreBtn, foot, trashSelected, syncSelection,
    reset: () => {},
  });

  // ---- live ----
  function updateDoc(ev) {
    const d = st.items.find((x) => x.id === ev.document_id);
    if (!d || !applyEventToDoc(d, ev)) return;
    const row = list.querySelector(`[data-testid="doc-row"][data-doc-id="${d.id}"]`);
    const b = row && row.querySelector('[data-testid="doc-state"]');
    if (b && ACTIVE.has(d.state)) updateBadge(b, d); else scheduleRefresh();
  }
  const offs = [
    on('event', (ev) => {
      if (ev.type === 'job.progress' || ev.type === 'document.processing') { updateDoc(ev); return; }
      if (ev.type.startsWith('document.') || ev.type.startsWith('tag.')) scheduleRefresh();
    }),
    on('views', () => {
      const v = session.views.find((x) => x.id === viewId);
      if (v && st.view && JSON.stringify(v) !== JSON.stringify(st.view)) { st.view = v; renderHead(); scheduleRefresh(); }
    }),
    on('fields', () => { if (st.view) { renderHead(); render(); } }),
    on('tags-changed', () => scheduleRefresh()),
    on('ws-reconnected', () => refresh()),
  ];
  const poll = setInterval(() => { if (!isLive() && st.items.some((x) => ACTIVE.has(x.state))) refresh(); }, 5000);

  // ---- go ----
  try {
    await Promise.all([loadView(), loadMetadata()]);
    if (!st.alive || !main.contains(view)) return cleanup;
    renderHead();
    await loadMore();
  } catch (e) {
    if (!main.contains(view)) return cleanup;
    setTitle('View');
    put(titleEl, icon('view', 22), h('span', { 'data-testid': 'view-title' }, e.status === 404 ? 'View not found' : 'View'));
    editBtn.hidden = true; delBtn.hidden = true; searchLink.hidden = true;
    put(body, errorBox(e, e.status === 404 ? null : () => navigate(`/view/${viewId}`)));
  }
  function cleanup() {
    st.alive = false;
    document.body.classList.remove('has-selection');
    untrackBar();
    offs.forEach((f) => f());
    unwireList();
    keys.stop();
    clearInterval(poll);
    scheduleRefresh.cancel();
  }
  return cleanup;
}
