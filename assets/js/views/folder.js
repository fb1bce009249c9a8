// Folder browser: breadcrumbs, paginated children, selection, drag & drop, uploads, live updates.
import { h, icon, iconButton, fmtDate, tagChip, debounce, plural, put } from '../dom.js';
import { get, post, patch, on, emit, session, thumbUrl, sentence } from '../api.js';
import { href, navigate } from '../router.js';
import { toast, toastError, promptDialog, confirmDialog, spinner, errorBox, emptyState, setTitle } from '../ui.js';
import { stateBadge, updateBadge, applyEventToDoc, validateFolderName, moveItems, trashItems, startDrag, endDrag, dropTarget, isFileDrag } from '../common.js';
import { trackSelectionBar, wireDocumentList, wireRowKeys, openDocRow, editDocRow } from '../common.js';
import { bulkEditDialog } from './bulkedit.js';
import { uploadButton, uploadFiles } from '../uploads.js';
import { pickFolder } from './movedialog.js';
import { bulkTagDialog, bulkTagMessage } from './tagdialog.js';
import { isLive } from '../ws.js';
import { rowMeta, dateCell } from '../metadata.js';

const PAGE = 50;
// Newest first by default; a sort the user picks is kept (localStorage).
const SORTS = [['-created_at', 'Newest first'], ['created_at', 'Oldest first'], ['name', 'Name A–Z'], ['-name', 'Name Z–A']];
const DEFAULT_SORT = '-created_at';
const keyOf = (it) => `${it.type === 'folder' ? 'f' : 'd'}:${it.id}`;

export async function folderView({ params }) {
  const main = document.getElementById('main');
  const folderId = Number(params.id);
  if (!Number.isInteger(folderId)) { navigate('/', null, { replace: true }); return undefined; }

  const st = {
    folder: null, items: [], total: 0, loading: false, done: false,
    sort: localStorage.getItem('docmerge.sort') || DEFAULT_SORT,
    selected: new Set(), anchor: null, rows: new Map(), alive: true,
  };
  if (!SORTS.some(([v]) => v === st.sort)) st.sort = DEFAULT_SORT;

  // ---- skeleton ----
  const crumbs = h('ol', { class: 'breadcrumbs', 'data-testid': 'breadcrumbs' });
  const titleEl = h('h1', { class: 'view-title' }, '\u00a0');
  const sortSel = h('select', { id: 'sort-select', 'aria-label': 'Sort by', 'data-testid': 'sort-select' },
    SORTS.map(([v, l]) => h('option', { value: v, selected: v === st.sort }, l)));
  const newFolderBtn = h('button', { type: 'button', class: 'btn', 'data-testid': 'new-folder-button' }, icon('folderPlus', 16), h('span', null, 'New folder'));
  const toolbar = h('div', { class: 'toolbar' }, newFolderBtn, uploadButton(() => folderId),
    h('label', { class: 'sort' }, icon('sort', 16), sortSel));

  const selCount = h('span', { class: 'sel-count', 'aria-live': 'polite' });
  const tagBtn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'tag-selected', onclick: () => tagSelected() }, icon('tag', 16), 'Tag…');
  const editBtn = h('button', { type: 'button', class: 'btn btn-small btn-primary', 'data-testid': 'edit-selected', onclick: () => editSelected() }, icon('edit', 16), 'Edit…');
  const mergeBtn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'merge-selected', hidden: true, title: 'Append the pages of the other selected documents, in list order, to the first one', onclick: () => mergeSelected() }, icon('doc', 16), 'Merge');
  const selBar = h('div', { class: 'selection-bar', 'data-testid': 'selection-bar', hidden: true },
    selCount,
    editBtn,
    tagBtn,
    h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'move-selected', onclick: () => moveSelected() }, icon('move', 16), 'Move…'),
    h('button', { type: 'button', class: 'btn btn-small btn-danger-soft', 'data-testid': 'trash-selected', onclick: () => trashSelected() }, icon('trash', 16), 'Move to trash'),
    mergeBtn,
    h('span', { class: 'spacer' }),
    h('button', { type: 'button', class: 'btn btn-small', onclick: () => { st.selected.clear(); syncSelection(); } }, 'Clear selection'));
  const untrackBar = trackSelectionBar(selBar);

  const selectAll = h('input', { type: 'checkbox', 'aria-label': 'Select all loaded items', 'data-testid': 'select-all' });
  const listHead = h('div', { class: 'list-head', 'aria-hidden': 'false' },
    h('span', { class: 'c-check' }, selectAll), h('span', { class: 'c-name' }, 'Name'), h('span', { class: 'c-state' }, 'Status'),
    h('span', { class: 'c-pages' }, 'Pages'), h('span', { class: 'c-date', title: 'When the document was written, else when it was added' }, 'Date'), h('span', { class: 'c-actions' }));
  const list = h('ul', { class: 'item-list', 'data-testid': 'item-list', 'aria-label': 'Folder contents' });
  const countEl = h('span', { class: 'muted small' });
  const moreBtn = h('button', { type: 'button', class: 'btn', 'data-testid': 'load-more', hidden: true }, 'Load more');
  const foot = h('div', { class: 'list-foot' }, countEl, moreBtn);
  const body = h('div', { class: 'list-body' }, spinner());
  const overlay = h('div', { class: 'drop-overlay', 'aria-hidden': 'true' }, icon('upload', 36), h('p', null, 'Drop files to upload here'));
  const view = h('section', { class: 'folder-view', 'aria-labelledby': 'folder-title' },
    h('div', { class: 'view-head' },
      h('nav', { 'aria-label': 'Breadcrumb' }, crumbs),
      h('div', { class: 'head-row' }, titleEl, toolbar)),
    selBar, body, overlay);
  titleEl.id = 'folder-title';
  put(main, view);

  // ---- data ----
  async function loadFolder() {
    st.folder = await get(`/folders/${folderId}`);
    if (!st.alive) return;
    const f = st.folder;
    setTitle(f.name);
    put(titleEl, icon(f.kind === 'home' ? 'home' : f.kind === 'inbox' ? 'inbox' : 'folder', 22), h('span', null, f.name));
    const bc = f.breadcrumbs && f.breadcrumbs.length ? f.breadcrumbs : [{ id: f.id, name: f.name }];
    put(crumbs, ...bc.map((b, i) => {
      const last = i === bc.length - 1;
      const el = last ? h('span', { 'aria-current': 'page' }, b.name) : h('a', { href: href(`/folder/${b.id}`), class: 'crumb' }, b.name);
      const li = h('li', null, el);
      if (!last) dropTarget(el, () => ({ id: b.id, name: b.name }), { onFiles: (files) => uploadFiles(files, b.id) });
      return li;
    }));
    newFolderBtn.hidden = false;
    emit('folder-shown', f);
  }

  async function fetchPage(page, pageSize) {
    return get(`/folders/${folderId}/children`, { page, page_size: pageSize, sort: st.sort });
  }

  async function loadMore() {
    if (st.loading || st.done) return;
    st.loading = true; moreBtn.disabled = true; moreBtn.textContent = 'Loading…';
    try {
      const page = Math.floor(st.items.length / PAGE) + 1;
      const r = await fetchPage(page, PAGE);
      if (!st.alive) return;
      const have = new Set(st.items.map(keyOf));
      for (const it of r.items) if (!have.has(keyOf(it))) st.items.push(it);
      st.total = r.total;
      st.done = st.items.length >= r.total || r.items.length < PAGE;
      render();
    } catch (e) {
      toastError(e);
    } finally {
      st.loading = false; moreBtn.disabled = false; moreBtn.textContent = 'Load more';
    }
  }

  /** Re-fetch what is loaded (up to 500 items) and reconcile rows in place. */
  async function refresh() {
    if (!st.alive) return;
    const size = Math.min(500, Math.max(PAGE, Math.ceil(st.items.length / PAGE) * PAGE));
    try {
      const r = await fetchPage(1, size);
      if (!st.alive) return;
      st.items = r.items;
      st.total = r.total;
      st.done = st.items.length >= r.total;
      const keys = new Set(st.items.map(keyOf));
      for (const k of [...st.selected]) if (!keys.has(k)) st.selected.delete(k);
      render();
    } catch (e) {
      if (e.status === 404) { toast('This folder was moved to the trash.'); navigate('/'); }
    }
  }
  const scheduleRefresh = debounce(refresh, 350);

  // ---- rendering ----
  function rowSig(it) {
    return JSON.stringify([it.type, it.name, it.title, it.state, it.progress, it.error, it.page_count, it.tags, it.created_at, it.duplicate_of, it.correspondent, it.date]);
  }

  function docActions(it) {
    return [
      iconButton('move', `Move ${it.title}`, { onclick: () => moveThese([{ type: 'document', id: it.id }]) }),
      iconButton('trash', `Move ${it.title} to trash`, { 'data-testid': 'row-trash', onclick: () => trashThese([{ type: 'document', id: it.id }], it.title) }),
    ];
  }
  function folderActions(it) {
    return [
      iconButton('edit', `Rename ${it.name}`, { 'data-testid': 'row-rename', onclick: () => renameFolder(it) }),
      iconButton('move', `Move ${it.name}`, { onclick: () => moveThese([{ type: 'folder', id: it.id }]) }),
      iconButton('trash', `Move ${it.name} to trash`, { 'data-testid': 'row-trash', onclick: () => trashThese([{ type: 'folder', id: it.id }], it.name) }),
    ];
  }

  function buildRow(it) {
    const key = keyOf(it);
    const isFolder = it.type === 'folder';
    const name = isFolder ? it.name : it.title;
    const check = h('input', { type: 'checkbox', class: 'row-check', 'aria-label': `Select ${name}`, 'data-testid': 'row-check' });
    let thumb;
    if (isFolder) thumb = h('span', { class: 'thumb thumb-folder' }, icon('folder', 22));
    else if (it.state === 'ready' && it.page_count > 0) {
      thumb = h('span', { class: 'thumb' }, h('img', { src: thumbUrl(it.id, 1), alt: '', loading: 'lazy', decoding: 'async', draggable: 'false' }));
    } else thumb = h('span', { class: 'thumb thumb-doc' }, icon('doc', 20));
    const link = h('a', { class: 'row-link', href: href(isFolder ? `/folder/${it.id}` : `/doc/${it.id}`), draggable: 'false' }, name);
    const tags = (it.tags || []).length ? h('span', { class: 'row-tags' }, it.tags.map((t) => tagChip(t))) : null;
    const sub = !isFolder && it.state === 'failed' && it.error ? h('span', { class: 'row-error' }, sentence(it.error)) : null;
    const dup = !isFolder && it.duplicate_of ? h('a', { class: 'badge badge-dup', href: href(`/doc/${it.duplicate_of}`), title: 'Same file as another document' }, 'Duplicate') : null;
    const row = h('li', {
      class: `row ${isFolder ? 'row-folder' : 'row-doc'}`, draggable: 'true',
      'data-testid': isFolder ? 'folder-row' : 'doc-row',
      dataset: isFolder ? { folderId: it.id, key } : { docId: it.id, key },
    },
    h('span', { class: 'c-check' }, check),
    h('span', { class: 'c-name' }, thumb, h('span', { class: 'name-wrap' }, h('span', { class: 'name-line' }, link, dup), isFolder ? null : h('span', { class: 'row-sub' }, rowMeta(it)), tags, sub)),
    h('span', { class: 'c-state' }, isFolder ? null : stateBadge(it)),
    h('span', { class: 'c-pages muted' }, !isFolder && it.page_count ? String(it.page_count) : ''),
    isFolder ? h('span', { class: 'c-date muted' }, fmtDate(it.created_at)) : dateCell(it),
    h('span', { class: 'c-actions' }, isFolder ? folderActions(it) : docActions(it)));

    check.addEventListener('click', (e) => { e.stopPropagation(); toggle(key, e.shiftKey, check.checked); });
    row.addEventListener('click', (e) => {
      if (e.target.closest('a, button, input')) return;
      if (e.shiftKey) { e.preventDefault(); window.getSelection()?.removeAllRanges(); }
      toggle(key, e.shiftKey, !st.selected.has(key));
    });
    row.addEventListener('dragstart', (e) => {
      const items = st.selected.has(key)
        ? st.items.filter((x) => st.selected.has(keyOf(x))).map((x) => ({ type: x.type, id: x.id }))
        : [{ type: it.type, id: it.id }];
      startDrag(e, items, name);
      row.classList.add('dragging');
    });
    row.addEventListener('dragend', () => { row.classList.remove('dragging'); endDrag(); });
    if (isFolder) dropTarget(row, () => ({ id: it.id, name: it.name }), { onFiles: (files) => uploadFiles(files, it.id) });
    return row;
  }

  function render() {
    if (!st.items.length && st.done) {
      const box = emptyState('folder', 'This folder is empty', 'Drop files here, use Upload, or create a folder.');
      put(body, box);
      updateFoot();
      return;
    }
    if (!body.contains(list)) put(body, listHead, list, foot);
    const next = new Map();
    const rows = st.items.map((it) => {
      const key = keyOf(it);
      const sig = rowSig(it);
      const old = st.rows.get(key);
      const row = old && old.sig === sig ? old.el : buildRow(it);
      next.set(key, { el: row, sig, item: it });
      return row;
    });
    st.rows = next;
    put(list, ...rows);
    syncSelection();
    keys.sync();
    updateFoot();
  }

  function updateFoot() {
    countEl.textContent = st.total ? `${st.items.length.toLocaleString()} of ${plural(st.total, 'item', 'items')}` : '';
    moreBtn.hidden = st.done;
  }

  function updateDocRow(doc) {
    const r = st.rows.get(`d:${doc.id}`);
    if (!r) return;
    const badge = r.el.querySelector('[data-testid="doc-state"]');
    if (badge && doc.state === r.item.state && doc.state === 'processing') { updateBadge(badge, doc); return; }
    render();
  }

  // ---- selection ----
  function toggle(key, range, value) {
    const idx = st.items.findIndex((x) => keyOf(x) === key);
    if (range && st.anchor != null) {
      const a = st.items.findIndex((x) => keyOf(x) === st.anchor);
      if (a >= 0) {
        const [lo, hi] = a < idx ? [a, idx] : [idx, a];
        for (let i = lo; i <= hi; i++) st.selected.add(keyOf(st.items[i]));
      }
    } else if (value) st.selected.add(key); else st.selected.delete(key);
    st.anchor = key;
    syncSelection();
  }
  function syncSelection() {
    for (const [key, r] of st.rows) {
      const on = st.selected.has(key);
      r.el.classList.toggle('selected', on);
      r.el.setAttribute('aria-selected', String(on));
      const c = r.el.querySelector('.row-check');
      if (c) c.checked = on;
    }
    const n = st.selected.size;
    selBar.hidden = n === 0;
    document.body.classList.toggle('has-selection', n > 0);
    selCount.textContent = n ? `${plural(n, 'item', 'items')} selected` : '';
    const docs = selectedDocs();
    mergeBtn.hidden = !(docs.length >= 2 && docs.length === n);
    tagBtn.hidden = !docs.length;
    editBtn.hidden = !docs.length;
    editBtn.title = docs.length && docs.length < n ? 'Edit the selected documents (folders are not changed)' : 'Change tags, correspondent, type, date, fields… of the selected documents';
    tagBtn.title = docs.length && docs.length < n ? 'Tag the selected documents (folders are not changed)' : 'Add or remove tags on the selected documents';
    selectAll.checked = n > 0 && n === st.items.length;
    selectAll.indeterminate = n > 0 && n < st.items.length;
  }
  selectAll.addEventListener('change', () => {
    if (selectAll.checked) st.items.forEach((x) => st.selected.add(keyOf(x))); else st.selected.clear();
    syncSelection();
  });
  const selectedItems = () => st.items.filter((x) => st.selected.has(keyOf(x))).map((x) => ({ type: x.type, id: x.id }));

  // ---- actions ----
  // Selected documents in list order (merge keeps this order: the first one receives the pages).
  function selectedDocs() { return st.items.filter((x) => x.type === 'document' && st.selected.has(keyOf(x))); }
  async function mergeSelected() {
    const docs = selectedDocs();
    if (docs.length < 2) return;
    const ok = await confirmDialog({
      title: `Merge ${docs.length} documents?`,
      message: `The pages of ${docs.slice(1).map((d) => `“${d.title}”`).join(', ')} are appended, in this order, to “${docs[0].title}” (a new version of it). The others go to the trash.`,
      confirmLabel: 'Merge', testid: 'merge-dialog',
    });
    if (!ok) return;
    try {
      const r = await post('/documents/merge', { documents: docs.map((d) => ({ id: d.id, base_version: d.version.id })) });
      const merged = r.documents[0];
      toast(`Merged into “${merged.title}” (${plural(merged.page_count, 'page', 'pages')}).`);
      st.selected.clear();
      emit('changed', { kind: 'merge' });
      refresh();
    } catch (e) { toastError(e); refresh(); }
  }
  async function editSelected() {
    const docs = selectedDocs();
    if (!docs.length) return;
    const r = await bulkEditDialog({ documents: docs.map((d) => d.id), count: docs.length });
    if (r && r.state === 'done') { st.selected.clear(); syncSelection(); }
    refresh();
  }
  async function tagSelected() {
    const docs = selectedDocs();
    if (!docs.length) return;
    const folders = st.selected.size - docs.length;
    const r = await bulkTagDialog(docs, { note: folders ? `${plural(folders, 'selected folder is', 'selected folders are')} not changed: only documents get these tags.` : null });
    if (!r) return;
    toast(bulkTagMessage(r));
    refresh();
  }
  async function moveThese(items) {
    const target = await pickFolder({ title: items.length > 1 ? `Move ${items.length} items to…` : 'Move to…', excludeIds: items.filter((i) => i.type === 'folder').map((i) => i.id), startId: folderId });
    if (!target) return;
    if (target.id === folderId) { toast('Already in this folder.'); return; }
    await moveItems(items, target.id, target.name);
    for (const it of items) st.selected.delete(keyOf(it));
    refresh();
  }
  const moveSelected = () => moveThese(selectedItems());

  async function trashThese(items, label) {
    const ok = await confirmDialog({
      title: 'Move to trash?',
      message: items.length === 1 ? `“${label}” will be moved to the trash. You can restore it from there.` : `${items.length} items will be moved to the trash. You can restore them from there.`,
      confirmLabel: 'Move to trash', danger: true,
    });
    if (!ok) return;
    await trashItems(items);
    for (const it of items) st.selected.delete(keyOf(it));
    refresh();
  }
  function trashSelected() {
    const items = selectedItems();
    if (!items.length) return;
    const one = items.length === 1 ? st.items.find((x) => keyOf(x) === keyOf(items[0])) : null;
    trashThese(items, one ? (one.name || one.title) : '');
  }

  async function renameFolder(f) {
    const res = await promptDialog({
      title: 'Rename folder', label: 'Folder name', value: f.name, confirmLabel: 'Rename', testid: 'rename-folder',
      validate: validateFolderName, submit: (name) => patch(`/folders/${f.id}`, { name }),
    });
    if (res) { toast(`Renamed to “${res.name}”.`); refresh(); }
  }

  newFolderBtn.addEventListener('click', async () => {
    const res = await promptDialog({
      title: 'New folder', label: 'Folder name', confirmLabel: 'Create', testid: 'new-folder',
      validate: validateFolderName, submit: (name) => post('/folders', { name, parent_id: folderId }),
    });
    if (res) { toast(`Created folder “${res.name}”.`); refresh(); }
  });

  // Keyboard: Delete moves the selection to the trash; Escape clears it.
  const unwireList = wireDocumentList({
    st, sortSel, sortKey: 'docmerge.sort', loadMore, moreBtn, foot, trashSelected, syncSelection,
    reset: () => { st.items = []; st.done = false; st.rows = new Map(); put(body, spinner()); },
  });
  const keys = wireRowKeys({
    rows: () => [...list.querySelectorAll('.row')],
    keyOf: (row) => row.dataset.key,
    toggle: (row) => toggle(row.dataset.key, false, !st.selected.has(row.dataset.key)),
    open: openDocRow, edit: (row) => { if (row.dataset.docId) editDocRow(row); },
  });

  // ---- file drop onto the view ----
  let depth = 0;
  view.addEventListener('dragenter', (e) => { if (isFileDrag(e)) { depth++; view.classList.add('file-over'); } });
  view.addEventListener('dragleave', () => { depth = Math.max(0, depth - 1); if (!depth) view.classList.remove('file-over'); });
  view.addEventListener('dragover', (e) => { if (isFileDrag(e)) { e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; } });
  view.addEventListener('drop', (e) => {
    depth = 0; view.classList.remove('file-over');
    if (!isFileDrag(e)) return;
    e.preventDefault();
    const files = Array.from(e.dataTransfer.files);
    if (files.length) uploadFiles(files, folderId);
  });

  // ---- live updates ----
  const inList = (type, id) => id != null && st.rows.has(`${type}:${id}`);
  const mentionsFolder = (ev) => ev.folder_id === folderId || Object.entries(ev.data || {}).some(([k, v]) => /(folder_id|parent_id)$/.test(k) && v === folderId);
  const offs = [
    on('event', (ev) => {
      if (ev.type === 'job.progress' || ev.type === 'document.processing' || ev.type === 'document.ready' || ev.type === 'document.failed') {
        const r = st.rows.get(`d:${ev.document_id}`);
        if (r && applyEventToDoc(r.item, ev)) updateDocRow(r.item);
        return;
      }
      if (ev.type === 'document.updated' && inList('d', ev.document_id)) {
        get(`/documents/${ev.document_id}`).then((d) => {
          const i = st.items.findIndex((x) => x.type === 'document' && x.id === d.id);
          if (i >= 0 && d.folder_id === folderId) { st.items[i] = { type: 'document', ...d }; render(); } else scheduleRefresh();
        }).catch(() => scheduleRefresh());
        return;
      }
      if (ev.type.startsWith('document.') || ev.type.startsWith('folder.')) {
        if (ev.folder_id === folderId && ev.type.startsWith('folder.') && ev.type !== 'folder.updated') { navigate('/'); return; }
        if (mentionsFolder(ev) || inList('d', ev.document_id) || inList('f', ev.folder_id) || ev.folder_id == null) scheduleRefresh();
        if (ev.type === 'folder.updated' && ev.folder_id === folderId) loadFolder().catch(() => {});
      }
    }),
    on('uploaded', (doc) => {
      if (doc.folder_id !== folderId) return;
      if (!inList('d', doc.id)) {
        // At the top of the documents at once (below the subfolders), whatever the sort.
        const firstDoc = st.items.findIndex((x) => x.type !== 'folder');
        st.items.splice(firstDoc < 0 ? st.items.length : firstDoc, 0, { type: 'document', ...doc });
        st.total += 1;
        render();
        const row = st.rows.get(`d:${doc.id}`);
        if (row && row.el.scrollIntoView) row.el.scrollIntoView({ block: 'nearest' });
      }
    }),
    on('ws-reconnected', () => refresh()),
  ];
  // Fallback: poll while the websocket is down and something is still processing.
  const poll = setInterval(() => {
    if (!isLive() && st.items.some((x) => x.type === 'document' && (x.state === 'queued' || x.state === 'processing'))) refresh();
  }, 5000);

  // ---- go ----
  try {
    await Promise.all([loadFolder(), loadMore()]);
  } catch (e) {
    put(body, errorBox(e, () => navigate(`/folder/${folderId}`)));
    if (e.status === 404) titleEl.textContent = 'Folder not found';
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
