// Pieces shared by several views: state badges, move/trash actions, drag & drop payloads.
import { h, pool, plural } from './dom.js';
import { patch, del, post, emit } from './api.js';
import { toast, toastError } from './ui.js';

export const STATE_LABEL = { queued: 'Queued', processing: 'Processing', ready: 'Ready', failed: 'Failed' };

/**
 * Short state text for badges. Processing shows the page being worked on ("Page 2 of 3"): the
 * progress counts finished pages, so 0 done is page 1, and all done is the final step.
 * long: the wordier text of the upload tray ("Waiting for a worker").
 */
export function stateText(doc, { long = false } = {}) {
  const p = doc.progress;
  const total = p && Number(p.total) > 0 ? Number(p.total) : 0;
  const done = p && Number(p.done) > 0 ? Number(p.done) : 0;
  if (doc.state === 'queued') return long ? 'Waiting for a worker' : 'Queued';
  if (doc.state === 'processing') {
    if (!total) return long ? 'Starting…' : 'Processing';
    if (done >= total) return 'Finishing…';
    return `Page ${done + 1} of ${total}`;
  }
  return STATE_LABEL[doc.state] || (typeof doc.state === 'string' ? doc.state : '');
}

/** Whether reprocessing a failed document may help (not for encrypted, corrupt or unsupported files). */
export function reprocessHelps(doc) {
  if (!doc || doc.state !== 'failed') return false;
  if (typeof doc.reprocess_helps === 'boolean') return doc.reprocess_helps;
  return !/encrypt|password/i.test(doc.error || '');
}

/** The state badge used in lists, the document view and the upload tray. */
export function stateBadge(doc) {
  const el = h('span', { class: 'badge', 'data-testid': 'doc-state' });
  updateBadge(el, doc);
  return el;
}
export function updateBadge(el, doc) {
  el.className = `badge state-${doc.state}`;
  el.dataset.state = doc.state;
  el.textContent = stateText(doc);
  el.title = doc.state === 'failed' && doc.error ? `Failed: ${doc.error}` : stateText(doc, { long: true });
  if (doc.state === 'processing' && doc.progress && doc.progress.total > 0) {
    const pct = Math.min(100, Math.round((100 * (doc.progress.done || 0)) / doc.progress.total));
    el.style.setProperty('--pct', `${pct}%`);
    el.classList.add('has-progress');
  } else el.style.removeProperty('--pct');
}

/** Apply a websocket event to a document object in place. Returns true if it changed. */
export function applyEventToDoc(doc, ev) {
  if (!doc || ev.document_id !== doc.id) return false;
  const d = ev.data || {};
  switch (ev.type) {
    case 'document.processing':
      doc.state = 'processing';
      doc.progress = { done: 0, total: d.pages ?? 0 };
      return true;
    case 'job.progress':
      // Progress of another job (a thumbnail re-render) must not turn a ready document back.
      if (doc.state === 'ready') return false;
      doc.state = 'processing';
      doc.progress = { done: d.page ?? (doc.progress ? doc.progress.done : 0), total: d.pages ?? (doc.progress ? doc.progress.total : 0) };
      return true;
    case 'document.ready':
      doc.state = 'ready'; doc.error = null; doc.progress = null;
      if (d.page_count != null) doc.page_count = d.page_count;
      return true;
    case 'document.failed':
      doc.state = 'failed'; doc.error = d.error || doc.error || 'processing failed'; doc.progress = null;
      return true;
    default: return false;
  }
}

export function validateFolderName(v) {
  if (!v) return 'Enter a name.';
  if (v.length > 255) return 'Names can be at most 255 characters.';
  if (v.includes('/')) return 'Names cannot contain “/”.';
  return null;
}

/** items: [{type:'folder'|'document', id}] */
export async function moveItems(items, targetId, targetName) {
  const movable = items.filter((it) => !(it.type === 'folder' && it.id === targetId));
  if (!movable.length) return { moved: 0, failed: [] };
  const res = await pool(movable, 4, (it) => it.type === 'folder'
    ? patch(`/folders/${it.id}`, { parent_id: targetId })
    : patch(`/documents/${it.id}`, { folder_id: targetId }));
  const failed = res.map((r, i) => (r.ok ? null : { item: movable[i], error: r.error })).filter(Boolean);
  const moved = movable.length - failed.length;
  if (moved) toast(`Moved ${plural(moved, 'item', 'items')}${targetName ? ` to ${targetName}` : ''}.`);
  if (failed.length) toastError(failed.length === 1 ? failed[0].error : `${failed.length} items could not be moved: ${failed[0].error.message}`);
  emit('changed', { kind: 'move' });
  return { moved, failed };
}

export async function trashItems(items) {
  const res = await pool(items, 4, (it) => del(it.type === 'folder' ? `/folders/${it.id}` : `/documents/${it.id}`));
  const failed = res.filter((r) => !r.ok);
  const ok = items.length - failed.length;
  if (ok) toast(`Moved ${plural(ok, 'item', 'items')} to the trash.`);
  if (failed.length) toastError(failed[0].error);
  emit('changed', { kind: 'trash' });
  return { ok, failed };
}

export async function restoreItems(items) {
  const res = await pool(items, 4, (it) => post(it.type === 'folder' ? `/folders/${it.id}/restore` : `/documents/${it.id}/restore`));
  const failed = res.filter((r) => !r.ok);
  const ok = items.length - failed.length;
  if (ok) toast(`Restored ${plural(ok, 'item', 'items')}.`);
  if (failed.length) toastError(failed[0].error);
  emit('changed', { kind: 'restore' });
  return { ok, failed };
}

// ---- internal drag & drop ----
export const DND_TYPE = 'application/x-docmerge-items';
let dragging = null; // items being dragged (also kept here: dataTransfer is unreadable during dragover)
export function startDrag(e, items, label) {
  dragging = items;
  e.dataTransfer.effectAllowed = 'move';
  e.dataTransfer.setData(DND_TYPE, JSON.stringify(items));
  e.dataTransfer.setData('text/plain', label);
  const ghost = h('div', { class: 'drag-ghost' }, items.length > 1 ? `${items.length} items` : label);
  document.body.append(ghost);
  e.dataTransfer.setDragImage(ghost, 10, 10);
  setTimeout(() => ghost.remove(), 0);
}
export function endDrag() { dragging = null; }
export function draggedItems(e) {
  if (dragging) return dragging;
  try { return JSON.parse(e.dataTransfer.getData(DND_TYPE) || 'null'); } catch { return null; }
}
export const isItemDrag = (e) => e.dataTransfer && Array.from(e.dataTransfer.types).includes(DND_TYPE);
export const isFileDrag = (e) => e.dataTransfer && Array.from(e.dataTransfer.types).includes('Files');

/**
 * Make an element a drop target for items (move) and files (upload).
 * getTarget() → {id, name}; onFiles(files, target) handles uploads.
 */
export function dropTarget(el, getTarget, { onFiles } = {}) {
  let depth = 0;
  const accept = (e) => isItemDrag(e) || (onFiles && isFileDrag(e));
  el.addEventListener('dragenter', (e) => {
    if (!accept(e)) return;
    const t = getTarget();
    if (isItemDrag(e) && dragging && dragging.some((it) => it.type === 'folder' && it.id === t.id)) return;
    e.preventDefault(); e.stopPropagation();
    depth++; el.classList.add('drop-hover');
  });
  el.addEventListener('dragover', (e) => {
    if (!accept(e)) return;
    const t = getTarget();
    if (isItemDrag(e) && dragging && dragging.some((it) => it.type === 'folder' && it.id === t.id)) return;
    e.preventDefault(); e.stopPropagation();
    e.dataTransfer.dropEffect = isFileDrag(e) ? 'copy' : 'move';
  });
  el.addEventListener('dragleave', () => { depth = Math.max(0, depth - 1); if (!depth) el.classList.remove('drop-hover'); });
  el.addEventListener('drop', (e) => {
    if (!accept(e)) return;
    e.preventDefault(); e.stopPropagation();
    depth = 0; el.classList.remove('drop-hover');
    const t = getTarget();
    if (isFileDrag(e) && e.dataTransfer.files.length && onFiles) { onFiles(Array.from(e.dataTransfer.files), t); return; }
    const items = draggedItems(e);
    endDrag();
    if (items && items.length) moveItems(items, t.id, t.name);
  });
}

/** The search query for one tag: tag:name, quoted when it has spaces. */
export function tagQuery(name) { return /[\s"]/.test(name) ? `tag:"${name.replace(/"/g, '')}"` : `tag:${name}`; }

/**
 * Keep --selbar-h (the selection bar's height) current, so the upload tray sits above the bar
 * and the page keeps room for both. Returns a function that stops it.
 */
export function trackSelectionBar(el) {
  if (typeof ResizeObserver !== 'function') return () => {};
  const ro = new ResizeObserver(() => {
    const hgt = Math.ceil(el.getBoundingClientRect().height);
    if (hgt) document.documentElement.style.setProperty('--selbar-h', `${hgt}px`);
  });
  ro.observe(el);
  return () => ro.disconnect();
}

/**
 * What a list of documents wires the same way in every view: the sort menu (remembered under
 * `sortKey`; `reset` empties the list before it loads again), "Load more" and endless scrolling
 * near the foot, Delete (selection to the trash) and Escape (clear the selection). Returns the
 * function that unwires it all.
 */
export function wireDocumentList({ st, sortSel, sortKey, reset, loadMore, moreBtn, foot, trashSelected, syncSelection }) {
  sortSel.addEventListener('change', () => {
    st.sort = sortSel.value;
    localStorage.setItem(sortKey, st.sort);
    reset();
    loadMore();
  });
  moreBtn.addEventListener('click', loadMore);
  const io = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting) && !st.done && st.items.length) loadMore();
  }, { rootMargin: '400px' });
  io.observe(foot);
  function onKey(e) {
    if (document.querySelector('dialog[open]')) return;
    const t = e.target;
    if (t instanceof HTMLElement && /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName) && t.type !== 'checkbox') return;
    if (e.key === 'Delete' && st.selected.size) { e.preventDefault(); trashSelected(); }
    else if (e.key === 'Escape' && st.selected.size) { st.selected.clear(); syncSelection(); }
  }
  document.addEventListener('keydown', onKey);
  return () => { io.disconnect(); document.removeEventListener('keydown', onKey); };
}

/** The keys every document list understands, for the keyboard help (`?`). */
export const LIST_KEYS = [
  ['↑ ↓', 'Move through the rows'],
  ['x', 'Select or unselect the row'],
  ['Enter', 'Open the document'],
  ['e', 'Edit the document’s metadata'],
  ['Delete', 'Move the selection to the trash'],
  ['Esc', 'Clear the selection'],
];

/** Whether a key press belongs to something the user types into (never a list shortcut). */
export function isTypingTarget(t) {
  if (!(t instanceof HTMLElement)) return false;
  if (t.isContentEditable || t.tagName === 'TEXTAREA' || t.tagName === 'SELECT') return true;
  return t.tagName === 'INPUT' && t.type !== 'checkbox' && t.type !== 'radio';
}

/**
 * Keyboard in a list of rows: ↑/↓ (and j/k) move a focus highlight, `x` toggles the focused
 * row's selection, Enter opens it, `e` opens the document with its metadata editor. The
 * highlighted row takes the focus (tabindex -1), so screen readers follow it.
 * rows() → the row elements in order; keyOf(row) → a stable key; toggle(row); open(row);
 * edit(row) (optional). Returns {sync(), stop()}: sync() after a re-render keeps the highlight.
 */
export function wireRowKeys({ rows, keyOf, toggle, open, edit }) {
  let cur = null;
  const main = document.getElementById('main');
  function mark(row, { focus = true } = {}) {
    for (const r of rows()) if (r !== row && r.classList.contains('kbd-current')) { r.classList.remove('kbd-current'); r.removeAttribute('tabindex'); }
    if (!row) { cur = null; return; }
    cur = keyOf(row);
    row.classList.add('kbd-current');
    row.tabIndex = -1;
    if (focus) {
      row.focus({ preventScroll: true });
      row.scrollIntoView({ block: 'nearest' });
    }
  }
  function onKey(e) {
    if (e.altKey || e.ctrlKey || e.metaKey || e.defaultPrevented) return;
    if (document.querySelector('dialog[open]')) return;
    const t = e.target;
    if (isTypingTarget(t)) return;
    // Only from the page itself (not the sidebar, the header or the upload tray).
    if (!(t === document.body || t === document.documentElement || (main && main.contains(t)))) return;
    const all = rows();
    if (!all.length) return;
    const i = all.findIndex((r) => keyOf(r) === cur);
    const row = i >= 0 ? all[i] : null;
    if (e.key === 'ArrowDown' || e.key === 'j') {
      e.preventDefault();
      mark(all[Math.min(all.length - 1, i + 1)]);
    } else if (e.key === 'ArrowUp' || e.key === 'k') {
      e.preventDefault();
      mark(all[Math.max(0, i < 0 ? 0 : i - 1)]);
    } else if ((e.key === 'x' || e.key === 'X') && row) {
      e.preventDefault();
      toggle(row);
    } else if (e.key === 'Enter' && row && (t === row || !(t instanceof HTMLElement) || !t.closest('a, button'))) {
      e.preventDefault();
      open(row);
    } else if ((e.key === 'e' || e.key === 'E') && row && edit) {
      e.preventDefault();
      edit(row);
    }
  }
  document.addEventListener('keydown', onKey);
  return {
    /** After the rows were rebuilt: the same row keeps the highlight (and the focus it had). */
    sync() {
      if (cur == null) return;
      const lost = document.activeElement === document.body || !document.activeElement;
      const row = rows().find((r) => keyOf(r) === cur);
      if (row) mark(row, { focus: lost && row.isConnected });
      else cur = null;
    },
    stop() { document.removeEventListener('keydown', onKey); },
  };
}

/** Open a document's page (Enter on a row). */
export function openDocRow(row) {
  const a = row.querySelector('a.row-link, a.result-title');
  if (a && a.getAttribute('href')) location.hash = a.getAttribute('href').replace(/^#/, '');
}
/** Open a document's page with the metadata editor open (`e` on a row). */
export function editDocRow(row) {
  const id = row.dataset.docId;
  if (id) location.hash = `/doc/${id}?edit=metadata`;
}
