// Upload manager: XHR progress per file, then live processing status from the websocket.
import { h, icon, iconButton, fmtSize } from './dom.js';
import { upload, on, emit, session, get } from './api.js';
import { stateBadge, updateBadge, applyEventToDoc } from './common.js';
import { isLive } from './ws.js';
import { href } from './router.js';

const MAX_PARALLEL = 3;
const OK_TYPES = /^(application\/pdf|image\/(png|jpeg|tiff))$/;
const OK_EXT = /\.(pdf|png|jpe?g|tiff?)$/i;
export const ACCEPT = 'application/pdf,image/png,image/jpeg,image/tiff,.pdf,.png,.jpg,.jpeg,.tif,.tiff';

const items = [];
let running = 0;
let tray = null; let list = null; let summary = null; let collapsed = false;
let seq = 0;

function ensureTray() {
  if (tray) return;
  summary = h('span', { class: 'tray-summary' });
  const toggle = iconButton('chevronLeft', 'Collapse uploads', { class: 'btn icon-btn tray-toggle' });
  toggle.addEventListener('click', () => {
    collapsed = !collapsed;
    tray.classList.toggle('collapsed', collapsed);
    toggle.setAttribute('aria-label', collapsed ? 'Expand uploads' : 'Collapse uploads');
    toggle.setAttribute('aria-expanded', String(!collapsed));
  });
  toggle.setAttribute('aria-expanded', 'true');
  const clearBtn = h('button', { type: 'button', class: 'btn btn-small', onclick: clearFinished }, 'Clear finished');
  list = h('ul', { class: 'tray-list' });
  tray = h('aside', { class: 'upload-tray', 'aria-label': 'Uploads', 'data-testid': 'upload-tray' },
    h('div', { class: 'tray-head' }, icon('upload', 16), summary, clearBtn, toggle), list);
  document.body.append(tray);
}

function finished(it) { return ['ready', 'failed', 'error'].includes(it.status); }

function clearFinished() {
  for (let i = items.length - 1; i >= 0; i--) if (finished(items[i])) { items[i].el.remove(); items.splice(i, 1); }
  renderSummary();
}

function renderSummary() {
  if (!tray) return;
  if (!items.length) { tray.remove(); tray = null; return; }
  const done = items.filter(finished).length;
  const active = items.length - done;
  summary.textContent = active ? `${done} of ${items.length} finished` : `${items.length} ${items.length === 1 ? 'upload' : 'uploads'} finished`;
}

function renderItem(it) {
  if (!it.el) {
    it.nameEl = h('span', { class: 'up-name', title: it.file.name }, it.file.name);
    it.statusEl = h('span', { class: 'up-status' });
    it.bar = h('progress', { max: 100, value: 0, 'aria-label': `Upload progress of ${it.file.name}` });
    it.el = h('li', { class: 'up-item', 'data-testid': 'upload-item' }, h('div', { class: 'up-line' }, icon('doc', 16), it.nameEl, it.statusEl), it.bar);
    list.prepend(it.el);
  }
  it.el.dataset.status = it.status;
  it.statusEl.replaceChildren();
  switch (it.status) {
    case 'waiting': it.statusEl.append('Waiting…'); break;
    case 'uploading': {
      const pct = it.total ? Math.round((100 * it.loaded) / it.total) : 0;
      it.bar.value = pct;
      it.statusEl.append(`${pct}% of ${fmtSize(it.total)}`);
      break;
    }
    case 'error': it.bar.hidden = true; it.statusEl.append(h('span', { class: 'error-text' }, it.error)); break;
    default: {
      it.bar.hidden = true;
      if (!it.badge) it.badge = stateBadge(it.doc); else updateBadge(it.badge, it.doc);
      it.statusEl.append(it.badge);
      if (it.doc.state === 'failed' && it.doc.error) it.statusEl.append(h('span', { class: 'error-text' }, ` ${it.doc.error}`));
      if (!it.link) {
        it.link = h('a', { href: href(`/doc/${it.doc.id}`) }, it.file.name);
        it.nameEl.replaceChildren(it.link);
      }
    }
  }
  renderSummary();
}

function pump() {
  while (running < MAX_PARALLEL) {
    const it = items.find((x) => x.status === 'waiting');
    if (!it) return;
    running++;
    it.status = 'uploading';
    it.total = it.file.size;
    renderItem(it);
    const { promise, abort } = upload(it.file, {
      folderId: it.folderId,
      onProgress: (loaded, total) => { it.loaded = loaded; it.total = total; renderItem(it); },
    });
    it.abort = abort;
    promise.then((res) => {
      it.doc = res.document;
      it.status = it.doc.state;
      renderItem(it);
      emit('uploaded', res.document);
    }).catch((e) => {
      it.status = 'error';
      it.error = e.code === 'conflict' ? `Already in the library: ${e.message}` : e.message;
      renderItem(it);
    }).finally(() => { running--; pump(); });
  }
}

/** Queue files for upload into folderId. */
export function uploadFiles(files, folderId) {
  ensureTray();
  if (collapsed) tray.querySelector('.tray-toggle').click();
  const max = session.config && session.config.max_upload_bytes;
  for (const file of files) {
    const it = { id: ++seq, file, folderId, status: 'waiting', loaded: 0, total: file.size, doc: null };
    items.push(it);
    if (max && file.size > max) { it.status = 'error'; it.error = `Too large (limit ${fmtSize(max)})`; }
    else if (file.size === 0) { it.status = 'error'; it.error = 'The file is empty'; }
    else if (!(OK_TYPES.test(file.type) || OK_EXT.test(file.name))) { it.status = 'error'; it.error = 'Not a PDF, PNG, JPEG or TIFF'; }
    renderItem(it);
  }
  pump();
}

// Live status from the websocket.
on('event', (ev) => {
  if (!ev.document_id) return;
  for (const it of items) {
    if (it.doc && applyEventToDoc(it.doc, ev)) { it.status = it.doc.state; renderItem(it); }
  }
});

// Fallback when the websocket is down: poll unfinished uploads.
setInterval(async () => {
  if (isLive()) return;
  for (const it of items) {
    if (!it.doc || finished(it)) continue;
    try { it.doc = await get(`/documents/${it.doc.id}`); it.status = it.doc.state; renderItem(it); } catch { /* ignore */ }
  }
}, 5000);

export function resetUploads() {
  for (const it of items) if (it.status === 'uploading' && it.abort) it.abort();
  items.length = 0;
  if (tray) { tray.remove(); tray = null; }
}

/** A hidden file input + visible button that uploads into getFolderId(). */
export function uploadButton(getFolderId) {
  const input = h('input', { type: 'file', multiple: true, accept: ACCEPT, class: 'sr-only', id: 'upload-input', 'data-testid': 'upload-input', tabindex: '-1', 'aria-hidden': 'true' });
  input.addEventListener('change', () => {
    if (input.files.length) uploadFiles(Array.from(input.files), getFolderId());
    input.value = '';
  });
  const btn = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'upload-button', onclick: () => input.click() }, icon('upload', 16), h('span', null, 'Upload'));
  return h('span', { class: 'upload-btn' }, btn, input);
}
