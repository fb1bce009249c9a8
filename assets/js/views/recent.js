// Recent (`#/recent`): what is processing now, then every document of every folder, newest
// first (the sort can be changed), with selection and bulk actions (Edit…, Tag…, Move…, Trash)
// and the list keys. `#/recent?state=failed`: only the documents whose processing failed.
import { h, icon, iconButton, tagChip, debounce, plural, put } from '../dom.js';
import { get, on, session, thumbUrl, sentence } from '../api.js';
import { href } from '../router.js';
import { toast, toastError, confirmDialog, spinner, errorBox, emptyState, setTitle } from '../ui.js';
import { stateBadge, updateBadge, applyEventToDoc, moveItems, trashItems, isFileDrag } from '../common.js';
import { trackSelectionBar, wireDocumentList, wireRowKeys, openDocRow, editDocRow } from '../common.js';
import { bulkEditDialog } from './bulkedit.js';
import { uploadButton, uploadFiles } from '../uploads.js';
import { pickFolder } from './movedialog.js';
import { bulkTagDialog, bulkTagMessage } from './tagdialog.js';
import { isLive } from '../ws.js';
import { rowMeta, dateCell } from '../metadata.js';

const PAGE = 50;
const SORT_KEY = 'docmerge.recentSort';
const SORTS = [['-created_at', 'Newest first'], ['created_at', 'Oldest first'], ['title', 'Title A–Z'], ['-title', 'Title Z–A']];
const ACTIVE = new Set(['queued', 'processing']);
const STATE_TITLE = { failed: 'Failed', queued: 'Queued', processing: 'Processing', ready: 'Ready' };

export async function recentView({ query } = {}) {
  const onlyState = query && ['failed', 'queued', 'processing', 'ready'].includes(query.get('state')) ? query.get('state') : null;
  const heading = onlyState === 'failed' ? 'Failed documents' : onlyState ? `${STATE_TITLE[onlyState]} documents` : 'Recent';
  setTitle(heading);
  const main = document.getElementById('main');
  const st = {
    items: [], total: 0, done: false, loading: false, alive: true,
    active: [], activeTotal: 0,
    sort: localStorage.getItem(SORT_KEY) || '-created_at',
    selected: new Set(), anchor: null, folders: new Map(),
  };
  if (!SORTS.some(([v]) => v === st.sort)) st.sort = '-created_at';

  // ---- skeleton ----
  const sortSel = h('select', { id: 'recent-sort', 'aria-label': 'Sort documents', 'data-testid': 'sort-select' },
    SORTS.map(([v, l]) => h('option', { value: v, selected: v === st.sort }, l)));
  const inboxId = () => session.roots && session.roots.inbox ? session.roots.inbox.id : undefined;
  const toolbar = h('div', { class: 'toolbar' }, uploadButton(inboxId, { title: 'Upload into your Inbox' }));

  const activeList = h('ul', { class: 'active-list', 'data-testid': 'processing-list', 'aria-label': 'Documents being processed' });
  const activeCount = h('span', { class: 'muted small', 'data-testid': 'processing-count' });
  const activeSec = h('section', { class: 'recent-sec processing-sec', 'data-testid': 'processing-section', 'aria-labelledby': 'processing-h', hidden: true },
    h('div', { class: 'sec-title' }, h('span', { class: 'spinner small', 'aria-hidden': 'true' }), h('h2', { id: 'processing-h' }, 'Processing'), activeCount),
    activeList);

  const selCount = h('span', { class: 'sel-count', 'aria-live': 'polite' });
  const selBar = h('div', { class: 'selection-bar', 'data-testid': 'selection-bar', hidden: true },
    selCount,
    h('button', { type: 'button', class: 'btn btn-small btn-primary', 'data-testid': 'edit-selected', onclick: () => editSelected() }, icon('edit', 16), 'Edit…'),
    h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'tag-selected', onclick: () => tagSelected() }, icon('tag', 16), 'Tag…'),
    h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'move-selected', onclick: () => moveSelected() }, icon('move', 16), 'Move…'),
    h('button', { type: 'button', class: 'btn btn-small btn-danger-soft', 'data-testid': 'trash-selected', onclick: () => trashSelected() }, icon('trash', 16), 'Move to trash'),
    h('span', { class: 'spacer' }),
    h('button', { type: 'button', class: 'btn btn-small', onclick: () => { st.selected.clear(); syncSelection(); } }, 'Clear selection'));
  const untrackBar = trackSelectionBar(selBar);

  const selectAll = h('input', { type: 'checkbox', 'aria-label': 'Select all loaded documents', 'data-testid': 'select-all' });
  const listHead = h('div', { class: 'list-head' },
    h('span', { class: 'c-check' }, selectAll), h('span', { class: 'c-name' }, 'Name'), h('span', { class: 'c-state' }, 'Status'),
    h('span', { class: 'c-pages' }, 'Pages'), h('span', { class: 'c-date', title: 'When the document was written, else when it was added' }, 'Date'), h('span', { class: 'c-actions' }));
  const list = h('ul', { class: 'item-list', 'data-testid': 'item-list', 'aria-label': 'All documents' });
  const countEl = h('span', { class: 'muted small', 'data-testid': 'recent-count' });
  const moreBtn = h('button', { type: 'button', class: 'btn', 'data-testid': 'load-more', hidden: true }, 'Load more');
  const foot = h('div', { class: 'list-foot' }, countEl, moreBtn);
  const body = h('div', { class: 'list-body' }, spinner());
  const view = h('section', { class: 'recent-view', 'aria-labelledby': 'recent-title' },
    h('div', { class: 'view-head' },
      h('div', { class: 'head-row' },
        h('h1', { class: 'view-title', id: 'recent-title' }, icon(onlyState === 'failed' ? 'alert' : 'clock', 22), h('span', null, heading)),
        toolbar)),
    onlyState ? null : activeSec,
    h('section', { class: 'recent-sec', 'aria-labelledby': 'all-h' },
      h('div', { class: 'sec-title' }, h('h2', { id: 'all-h' }, onlyState ? `${STATE_TITLE[onlyState]}, in every folder` : 'All documents'),
        onlyState ? h('a', { href: '#/recent', class: 'small' }, 'Show all documents') : h('span', { class: 'muted small' }, 'in every folder'), h('span', { class: 'spacer' }),
        h('label', { class: 'sort' }, icon('sort', 16), sortSel)),
      body),
    selBar);
  put(main, view);

  // ---- data ----
  const fetchPage = (page, size) => get('/documents', { sort: st.sort, state: onlyState || undefined, page, page_size: size });

  async function loadActive() {
    const [q, p] = await Promise.all([
      get('/documents', { state: 'queued', sort: '-created_at', page_size: 50 }),
      get('/documents', { state: 'processing', sort: '-created_at', page_size: 50 }),
    ]);
    if (!st.alive) return;
    // Processing first (they move), then the queue; newest first within each.
    st.active = [...(p.items || []), ...(q.items || [])];
    st.activeTotal = (p.total || 0) + (q.total || 0);
    renderActive();
  }

  async function loadMore() {
    if (st.loading || st.done) return;
    st.loading = true; moreBtn.disabled = true; moreBtn.textContent = 'Loading…';
    try {
      const page = Math.floor(st.items.length / PAGE) + 1;
      const r = await fetchPage(page, PAGE);
      if (!st.alive) return;
      const have = new Set(st.items.map((x) => x.id));
      for (const it of r.items) if (!have.has(it.id)) st.items.push(it);
      st.total = r.total;
      st.done = st.items.length >= r.total || r.items.length < PAGE;
      render();
    } catch (e) {
      if (!st.items.length) put(body, errorBox(e, () => { st.done = false; put(body, spinner()); loadMore(); }));
      else toastError(e);
    } finally {
      st.loading = false; moreBtn.disabled = false; moreBtn.textContent = 'Load more';
    }
  }

  async function refresh() {
    if (!st.alive) return;
    const size = Math.min(500, Math.max(PAGE, Math.ceil(st.items.length / PAGE) * PAGE));
    try {
      const [r] = await Promise.all([fetchPage(1, size), loadActive()]);
      if (!st.alive) return;
      st.items = r.items;
      st.total = r.total;
      st.done = st.items.length >= r.total;
      const ids = new Set(st.items.map((x) => x.id));
      for (const id of [...st.selected]) if (!ids.has(id)) st.selected.delete(id);
      render();
    } catch { /* the next event or poll tries again */ }
  }
  const scheduleRefresh = debounce(refresh, 350);

  /** Folder names for the "in …" line (fetched once per folder). */
  function folderName(id) {
    if (session.roots) {
      if (session.roots.home && session.roots.home.id === id) return 'Home';
      if (session.roots.inbox && session.roots.inbox.id === id) return 'Inbox';
    }
    const f = st.folders.get(id);
    if (f === undefined && st.folders.size < 200) {
      st.folders.set(id, null);
      const fill = (name) => {
        st.folders.set(id, name);
        if (st.alive) document.querySelectorAll(`.recent-view [data-folder-of="${id}"]`).forEach((el) => { el.textContent = name; });
      };
      get(`/folders/${id}`).then((x) => fill(x.name)).catch(() => fill('a folder'));
    }
    return f || '…';
  }

  // ---- rendering ----
  function renderActive() {
    activeSec.hidden = !st.active.length;
    activeCount.textContent = st.activeTotal > st.active.length ? `${st.active.length} of ${st.activeTotal}` : (st.active.length ? String(st.active.length) : '');
    put(activeList, st.active.map((d) => h('li', { class: 'active-item', 'data-testid': 'processing-item', 'data-doc-id': d.id },
      h('span', { class: 'thumb thumb-doc' }, icon('doc', 18)),
      h('a', { class: 'row-link', href: href(`/doc/${d.id}`) }, d.title),
      stateBadge(d))));
  }

  function buildRow(d) {
    const check = h('input', { type: 'checkbox', class: 'row-check', 'aria-label': `Select ${d.title}`, 'data-testid': 'row-check' });
    const thumb = d.state === 'ready' && d.page_count > 0
      ? h('span', { class: 'thumb' }, h('img', { src: thumbUrl(d.id, 1), alt: '', loading: 'lazy', decoding: 'async', draggable: 'false' }))
      : h('span', { class: 'thumb thumb-doc' }, icon('doc', 20));
    const link = h('a', { class: 'row-link', href: href(`/doc/${d.id}`) }, d.title);
    const where = h('a', { class: 'row-folder muted small', href: href(`/folder/${d.folder_id}`), 'data-folder-of': d.folder_id }, folderName(d.folder_id));
    const tags = (d.tags || []).length ? h('span', { class: 'row-tags' }, d.tags.map((t) => tagChip(t))) : null;
    const sub = d.state === 'failed' && d.error ? h('span', { class: 'row-error' }, sentence(d.error)) : null;
    const row = h('li', { class: 'row row-doc', 'data-testid': 'doc-row', dataset: { docId: d.id } },
      h('span', { class: 'c-check' }, check),
      h('span', { class: 'c-name' }, thumb, h('span', { class: 'name-wrap' }, h('span', { class: 'name-line' }, link), h('span', { class: 'row-sub' }, h('span', { class: 'row-where' }, icon('folder', 12), where), rowMeta(d)), tags, sub)),
      h('span', { class: 'c-state' }, stateBadge(d)),
      h('span', { class: 'c-pages muted' }, d.page_count ? String(d.page_count) : ''),
      dateCell(d),
      h('span', { class: 'c-actions' },
        iconButton('tag', `Tag ${d.title}`, { onclick: () => tagThese([d]) }),
        iconButton('move', `Move ${d.title}`, { onclick: () => moveThese([d]) }),
        iconButton('trash', `Move ${d.title} to trash`, { 'data-testid': 'row-trash', onclick: () => trashThese([d]) })));
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
      put(body, onlyState ? emptyState('check', `No ${STATE_TITLE[onlyState].toLowerCase()} documents`, 'Nothing to see here.')
        : emptyState('doc', 'No documents yet', 'Upload PDFs or images with the Upload button or by dropping them here; they go to your Inbox.'));
      return;
    }
    if (!body.contains(list)) put(body, listHead, list, foot);
    put(list, st.items.map(buildRow));
    syncSelection();
    keys.sync();
    countEl.textContent = st.total ? `${st.items.length.toLocaleString()} of ${plural(st.total, 'document', 'documents')}` : '';
    moreBtn.hidden = st.done;
  }

  function updateDoc(id, fn) {
    let changed = false;
    for (const d of st.active) if (d.id === id && fn(d)) changed = true;
    const activeNow = st.active.filter((d) => ACTIVE.has(d.state));
    const finishedOne = activeNow.length !== st.active.length;
    st.active = activeNow;
    if (finishedOne) st.activeTotal = Math.max(st.active.length, st.activeTotal - 1);
    if (changed || finishedOne) {
      // Badges in place while processing; a rebuild when one finishes.
      if (finishedOne) renderActive();
      else for (const d of st.active) { const b = activeList.querySelector(`[data-doc-id="${d.id}"] [data-testid="doc-state"]`); if (b) updateBadge(b, d); }
    }
    const it = st.items.find((x) => x.id === id);
    if (it && fn(it)) {
      const row = list.querySelector(`[data-testid="doc-row"][data-doc-id="${id}"]`);
      if (row && ACTIVE.has(it.state)) { const b = row.querySelector('[data-testid="doc-state"]'); if (b) updateBadge(b, it); } else if (row) row.replaceWith(buildRow(it));
      syncSelection();
    }
  }

  // ---- selection ----
  function toggle(id, range, value) {
    const idx = st.items.findIndex((x) => x.id === id);
    if (range && st.anchor != null) {
      const a = st.items.findIndex((x) => x.id === st.anchor);
      if (a >= 0 && idx >= 0) {
        const [lo, hi] = a < idx ? [a, idx] : [idx, a];
        for (let i = lo; i <= hi; i++) st.selected.add(st.items[i].id);
      }
    } else if (value) st.selected.add(id); else st.selected.delete(id);
    st.anchor = id;
    syncSelection();
  }
  function syncSelection() {
    list.querySelectorAll('[data-testid="doc-row"]').forEach((row) => {
      const sel = st.selected.has(Number(row.dataset.docId));
      row.classList.toggle('selected', sel);
      row.setAttribute('aria-selected', String(sel));
      const c = row.querySelector('.row-check');
      if (c) c.checked = sel;
    });
    const n = st.selected.size;
    selBar.hidden = n === 0;
    document.body.classList.toggle('has-selection', n > 0);
    selCount.textContent = n ? `${plural(n, 'document', 'documents')} selected` : '';
    selectAll.checked = n > 0 && n === st.items.length;
    selectAll.indeterminate = n > 0 && n < st.items.length;
  }
  selectAll.addEventListener('change', () => {
    if (selectAll.checked) st.items.forEach((x) => st.selected.add(x.id)); else st.selected.clear();
    syncSelection();
  });
  const selectedDocs = () => st.items.filter((x) => st.selected.has(x.id));

  // ---- actions ----
  async function editSelected() {
    const docs = selectedDocs();
    if (!docs.length) return;
    const r = await bulkEditDialog({ documents: docs.map((d) => d.id), count: docs.length });
    if (r && r.state === 'done') { st.selected.clear(); syncSelection(); }
    refresh();
  }
  async function tagThese(docs) {
    if (!docs.length) return;
    const r = await bulkTagDialog(docs);
    if (!r) return;
    toast(bulkTagMessage(r));
    refresh();
  }
  const tagSelected = () => tagThese(selectedDocs());
  async function moveThese(docs) {
    const target = await pickFolder({ title: docs.length > 1 ? `Move ${docs.length} documents to…` : 'Move to…', startId: docs.length === 1 ? docs[0].folder_id : undefined });
    if (!target) return;
    await moveItems(docs.map((d) => ({ type: 'document', id: d.id })), target.id, target.name);
    for (const d of docs) st.selected.delete(d.id);
    refresh();
  }
  const moveSelected = () => moveThese(selectedDocs());
  async function trashThese(docs) {
    const ok = await confirmDialog({
      title: 'Move to trash?',
      message: docs.length === 1 ? `“${docs[0].title}” will be moved to the trash. You can restore it from there.` : `${docs.length} documents will be moved to the trash. You can restore them from there.`,
      confirmLabel: 'Move to trash', danger: true,
    });
    if (!ok) return;
    await trashItems(docs.map((d) => ({ type: 'document', id: d.id })));
    for (const d of docs) st.selected.delete(d.id);
    refresh();
  }
  const trashSelected = () => { const d = selectedDocs(); if (d.length) trashThese(d); };

  const unwireList = wireDocumentList({
    st, sortSel, sortKey: SORT_KEY, loadMore, moreBtn, foot, trashSelected, syncSelection,
    reset: () => { st.items = []; st.done = false; put(body, spinner()); },
  });
  const keys = wireRowKeys({
    rows: () => [...list.querySelectorAll('[data-testid="doc-row"]')],
    keyOf: (row) => row.dataset.docId,
    toggle: (row) => { const id = Number(row.dataset.docId); toggle(id, false, !st.selected.has(id)); },
    open: openDocRow, edit: editDocRow,
  });

  // ---- files dropped anywhere on the view go to the Inbox ----
  view.addEventListener('dragover', (e) => { if (isFileDrag(e)) { e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; } });
  view.addEventListener('drop', (e) => {
    if (!isFileDrag(e)) return;
    e.preventDefault();
    const files = Array.from(e.dataTransfer.files);
    if (files.length) uploadFiles(files, inboxId());
  });

  // ---- live ----
  const offs = [
    on('event', (ev) => {
      if (ev.type === 'job.progress' || ev.type === 'document.processing' || ev.type === 'document.ready' || ev.type === 'document.failed') {
        const known = st.active.some((d) => d.id === ev.document_id) || st.items.some((d) => d.id === ev.document_id);
        if (known) updateDoc(ev.document_id, (d) => applyEventToDoc(d, ev));
        else if (ev.type === 'document.processing') scheduleRefresh();
        if (ev.type === 'document.ready' || ev.type === 'document.failed') scheduleRefresh();
        return;
      }
      if (ev.type.startsWith('document.') || ev.type.startsWith('tag.')) scheduleRefresh();
      if (ev.type === 'folder.updated' && ev.folder_id != null && st.folders.has(ev.folder_id)) { st.folders.delete(ev.folder_id); scheduleRefresh(); }
    }),
    on('uploaded', (doc) => {
      if (onlyState) { scheduleRefresh(); return; }
      // At the top at once, whatever the sort: the list is re-sorted at the next refresh.
      if (!st.items.some((x) => x.id === doc.id)) { st.items.unshift(doc); st.total += 1; render(); }
      if (ACTIVE.has(doc.state) && !st.active.some((x) => x.id === doc.id)) { st.active.unshift({ ...doc }); st.activeTotal += 1; renderActive(); }
    }),
    on('tags-changed', () => scheduleRefresh()),
    on('ws-reconnected', () => refresh()),
  ];
  const poll = setInterval(() => { if (!isLive() && (st.active.length || st.items.some((x) => ACTIVE.has(x.state)))) refresh(); }, 5000);

  try {
    await Promise.all([loadActive(), loadMore()]);
  } catch (e) {
    put(body, errorBox(e, () => refresh()));
  }

  return () => {
    st.alive = false;
    document.body.classList.remove('has-selection');
    untrackBar();
    offs.forEach((f) => f());
    unwireList();
    keys.stop();
    clearInterval(poll);
    scheduleRefresh.cancel();
  };
}
