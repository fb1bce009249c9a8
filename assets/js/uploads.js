// Upload manager: XHR progress per file, then live processing status from the websocket.
// The tray lists every file with its whole message, counts what really happened ("2 uploaded,
// 1 refused"), offers only actions that can help, collapses, and never hides the page under it
// (the page gets bottom padding as tall as the tray while it is shown).
import { h, icon, iconButton, fmtSize, plural, put } from './dom.js';
import { upload, on, emit, session, get, post, sentence } from './api.js';
import { stateBadge, updateBadge, applyEventToDoc, stateText, reprocessHelps } from './common.js';
import { isLive } from './ws.js';
import { href } from './router.js';
import { toast, toastError } from './ui.js';

const MAX_PARALLEL = 3;
const OK_TYPES = /^(application\/pdf|image\/(png|jpeg|tiff))$/;
const OK_EXT = /\.(pdf|png|jpe?g|tiff?)$/i;
export const ACCEPT = 'application/pdf,image/png,image/jpeg,image/tiff,.pdf,.png,.jpg,.jpeg,.tif,.tiff';
const COLLAPSED_KEY = 'docmerge.trayCollapsed';

const items = [];
let running = 0;
let tray = null; let list = null; let summary = null; let toggle = null; let clearBtn = null;
let collapsed = sessionStorage.getItem(COLLAPSED_KEY) === '1';
let seq = 0;
let resizeObs = null;

function setCollapsed(c) {
  collapsed = c;
  sessionStorage.setItem(COLLAPSED_KEY, c ? '1' : '0');
  if (!tray) return;
  tray.classList.toggle('collapsed', c);
  toggle.setAttribute('aria-label', c ? 'Show the uploads' : 'Hide the list of uploads');
  toggle.title = c ? 'Show the uploads' : 'Hide the list of uploads';
  toggle.setAttribute('aria-expanded', String(!c));
  syncSpace();
}

/** Reserve room at the bottom of the page for the tray, so it never covers rows or buttons. */
function syncSpace() {
  const root = document.documentElement;
  if (!tray) { root.style.removeProperty('--tray-h'); document.body.classList.remove('tray-open'); return; }
  root.style.setProperty('--tray-h', `${Math.ceil(tray.getBoundingClientRect().height)}px`);
  document.body.classList.add('tray-open');
}

function ensureTray() {
  if (tray) return;
  summary = h('span', { class: 'tray-summary', 'data-testid': 'tray-summary', 'aria-live': 'polite' });
  toggle = iconButton('chevronLeft', 'Hide the list of uploads', { class: 'btn icon-btn tray-toggle', 'data-testid': 'tray-toggle', 'aria-controls': 'tray-list' });
  toggle.addEventListener('click', () => setCollapsed(!collapsed));
  clearBtn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'tray-clear', onclick: clearFinished }, 'Clear finished');
  const closeBtn = iconButton('close', 'Close the upload list', { class: 'btn icon-btn tray-close', 'data-testid': 'tray-close', onclick: closeTray });
  list = h('ul', { class: 'tray-list', id: 'tray-list' });
  tray = h('aside', { class: 'upload-tray', 'aria-label': 'Uploads', 'data-testid': 'upload-tray' },
    h('div', { class: 'tray-head' }, icon('upload', 16), summary, clearBtn, toggle, closeBtn), list);
  document.body.append(tray);
  setCollapsed(collapsed);
  if (typeof ResizeObserver === 'function') { resizeObs = new ResizeObserver(syncSpace); resizeObs.observe(tray); }
  syncSpace();
}

function removeTray() {
  if (resizeObs) { resizeObs.disconnect(); resizeObs = null; }
  if (tray) { tray.remove(); tray = null; }
  syncSpace();
}

const isRefused = (it) => it.status === 'error';
const isSending = (it) => it.status === 'waiting' || it.status === 'uploading';
function finished(it) { return isRefused(it) || (it.doc && (it.doc.state === 'ready' || it.doc.state === 'failed')); }

function clearFinished() {
  for (let i = items.length - 1; i >= 0; i--) if (finished(items[i])) { items[i].el.remove(); items.splice(i, 1); }
  renderSummary();
}

/** Close: finished ones go; files still uploading or processing keep the tray open. */
function closeTray() {
  clearFinished();
  if (items.length) toast(`${plural(items.length, 'file is', 'files are')} still on the way: the list stays until they are done.`);
}

function dismiss(it) {
  const i = items.indexOf(it);
  if (i >= 0) items.splice(i, 1);
  it.el.remove();
  renderSummary();
}

/** True counts: ["2 uploaded, 1 refused", "1 ready, 1 processing"]. */
export function summaryParts(list) {
  const n = (f) => list.filter(f).length;
  const sending = n(isSending);
  const refused = n(isRefused);
  const docs = list.filter((it) => it.doc);
  const head = [];
  if (sending) head.push(`${sending} uploading`);
  if (docs.length) head.push(`${docs.length} uploaded`);
  if (refused) head.push(`${refused} refused`);
  const st = (s) => docs.filter((it) => it.doc.state === s).length;
  const tail = [];
  const waiting = st('queued') + st('processing');
  if (waiting) tail.push(`${waiting} processing`);
  if (st('ready')) tail.push(`${st('ready')} ready`);
  if (st('failed')) tail.push(`${st('failed')} failed`);
  return [head.join(', '), tail.join(', ')];
}

function renderSummary() {
  if (!tray) return;
  if (!items.length) { removeTray(); return; }
  const [main, detail] = summaryParts(items);
  put(summary, h('span', { class: 'tray-main' }, main), detail ? h('span', { class: 'tray-detail muted' }, detail) : null);
  clearBtn.hidden = !items.some(finished);
  tray.dataset.busy = String(items.some((it) => !finished(it)));
  // Everything went in and is ready: nothing to read, so the tray folds to its summary line a
  // moment later (a refusal or a failure keeps it open until the user moves on).
  const allGood = items.every((it) => finished(it) && !isRefused(it) && it.doc.state === 'ready');
  clearTimeout(foldTimer);
  if (allGood && !collapsed) foldTimer = setTimeout(() => { if (tray && items.every(finished)) setCollapsed(true); }, 4000);
}
let foldTimer = null;

/** A refused upload worth trying again: the network, a timeout, a busy or failing server. */
const transient = (e) => e && e.code !== 'aborted' && (e.status === 0 || e.status === 408 || e.status === 429 || e.status >= 500);

function renderItem(it) {
  if (!it.el) {
    it.nameEl = h('span', { class: 'up-name', title: it.file.name }, it.file.name);
    it.statusEl = h('span', { class: 'up-status' });
    it.bar = h('progress', { max: 100, value: 0, 'aria-label': `Upload progress of ${it.file.name}` });
    it.msgEl = h('p', { class: 'up-msg', 'data-testid': 'upload-message' });
    it.actsEl = h('div', { class: 'up-actions' });
    it.el = h('li', { class: 'up-item', 'data-testid': 'upload-item' },
      h('div', { class: 'up-line' }, icon('doc', 16), it.nameEl, it.statusEl), it.bar, it.msgEl, it.actsEl);
    list.prepend(it.el);
  }
  it.el.dataset.status = it.status;
  if (it.doc) it.el.dataset.docId = it.doc.id;
  let msg = null; const acts = [];
  switch (it.status) {
    case 'waiting': put(it.statusEl, 'Waiting to upload'); break;
    case 'uploading': {
      const pct = it.total ? Math.round((100 * it.loaded) / it.total) : 0;
      it.bar.value = pct;
      put(it.statusEl, pct >= 100 ? 'Checking the file…' : `${pct}% of ${fmtSize(it.total)}`);
      break;
    }
    case 'error':
      it.bar.hidden = true;
      put(it.statusEl, h('span', { class: 'badge state-failed', 'data-testid': 'upload-refused' }, 'Refused'));
      msg = it.error;
      if (it.retry) acts.push(h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'upload-retry', onclick: () => retry(it) }, icon('refresh', 14), 'Try again'));
      acts.push(h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'upload-dismiss', onclick: () => dismiss(it) }, 'Dismiss'));
      break;
    default: {
      it.bar.hidden = true;
      if (!it.badge) it.badge = stateBadge(it.doc); else updateBadge(it.badge, it.doc);
      it.badge.textContent = stateText(it.doc, { long: true });
      put(it.statusEl, it.badge);
      if (it.doc.state === 'failed') {
        const helps = reprocessHelps(it.doc);
        msg = `${sentence(it.doc.error || 'Processing failed')}${helps ? '' : ' Reprocessing cannot fix this file.'}`;
        if (helps) acts.push(h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'upload-reprocess', onclick: () => reprocess(it) }, icon('refresh', 14), 'Reprocess'));
        acts.push(h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'upload-dismiss', onclick: () => dismiss(it) }, 'Dismiss'));
      }
      if (!it.link) {
        it.link = h('a', { href: href(`/doc/${it.doc.id}`), title: it.file.name }, it.file.name);
        put(it.nameEl, it.link);
      }
    }
  }
  put(it.msgEl, msg);
  it.msgEl.hidden = !msg;
  it.msgEl.classList.toggle('error-text', !!msg);
  put(it.actsEl, acts);
  it.actsEl.hidden = !acts.length;
  renderSummary();
}

async function reprocess(it) {
  try {
    await post(`/documents/${it.doc.id}/reprocess`);
    it.doc.state = 'queued'; it.doc.error = null; it.doc.progress = null;
    delete it.doc.reprocess_helps;
    it.status = 'queued';
    renderItem(it);
  } catch (e) { toastError(e); }
}

function retry(it) {
  it.status = 'waiting'; it.error = null; it.retry = false; it.loaded = 0;
  it.bar.hidden = false; it.bar.value = 0;
  renderItem(it);
  pump();
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
      onProgress: (loaded, total) => { it.loaded = loaded; it.total = total; if (items.includes(it)) renderItem(it); },
    });
    it.abort = abort;
    promise.then((res) => {
      it.doc = res.document;
      // Events about it that came before this answer (a file can fail within milliseconds).
      const before = early.get(it.doc.id) || [];
      early.delete(it.doc.id);
      for (const ev of before) applyEventToDoc(it.doc, ev);
      if (before.some((ev) => ev.type === 'document.failed')) refetch(it);
      it.status = it.doc.state;
      if (items.includes(it)) renderItem(it);
      emit('uploaded', res.document);
    }).catch((e) => {
      it.status = 'error';
      const m = sentence(e.message);
      it.error = e.code === 'conflict' && !/already/i.test(m) ? `Already in the library: ${m}` : m;
      it.retry = transient(e);
      if (items.includes(it)) renderItem(it);
    }).finally(() => { running--; pump(); });
  }
}

/** Queue files for upload into folderId (undefined: the server's default, the Inbox). */
export function uploadFiles(files, folderId) {
  ensureTray();
  if (collapsed) setCollapsed(false);
  const max = session.config && session.config.max_upload_bytes;
  for (const file of files) {
    const it = { id: ++seq, file, folderId, status: 'waiting', loaded: 0, total: file.size, doc: null };
    items.push(it);
    if (max && file.size > max) { it.status = 'error'; it.error = `The file is ${fmtSize(file.size)}: more than the limit of ${fmtSize(max)}.`; }
    else if (file.size === 0) { it.status = 'error'; it.error = 'The file is empty (0 bytes).'; }
    else if (!(OK_TYPES.test(file.type) || OK_EXT.test(file.name))) { it.status = 'error'; it.error = 'Not a PDF, PNG, JPEG or TIFF file.'; }
    renderItem(it);
  }
  pump();
}

/** Reload a document (to learn reprocess_helps, which events do not carry). */
async function refetch(it) {
  try {
    const d = await get(`/documents/${it.doc.id}`);
    if (!items.includes(it)) return;
    it.doc = d; it.status = d.state; renderItem(it);
  } catch { /* the event's data is shown */ }
}

// Live status from the websocket. Events for documents no upload knows yet are kept a while:
// the worker may finish (or fail) a small file before the upload's answer arrives.
const early = new Map(); // document id → events
on('event', (ev) => {
  if (!ev.document_id) return;
  let known = false;
  for (const it of items) {
    if (it.doc && it.doc.id === ev.document_id) known = true;
    if (it.doc && applyEventToDoc(it.doc, ev)) {
      it.status = it.doc.state;
      renderItem(it);
      if (ev.type === 'document.failed') refetch(it);
    }
  }
  if (!known && items.some((it) => it.status === 'uploading')) {
    if (!early.has(ev.document_id)) early.set(ev.document_id, []);
    early.get(ev.document_id).push(ev);
    while (early.size > 50) early.delete(early.keys().next().value);
  }
});

// Fallback when the websocket is down: poll unfinished uploads.
setInterval(async () => {
  if (isLive()) return;
  for (const it of items) {
    if (!it.doc || finished(it)) continue;
    await refetch(it);
  }
}, 5000);

// The tray never sits over the page the user went on to: on a move to another page, once every
// upload has finished, it folds to its one-line summary (its messages stay one click away).
window.addEventListener('hashchange', () => {
  if (tray && !collapsed && items.length && items.every(finished)) setCollapsed(true);
});

export function resetUploads() {
  for (const it of items) if (it.status === 'uploading' && it.abort) it.abort();
  items.length = 0;
  removeTray();
}

/** A hidden file input + visible button that uploads into getFolderId(). */
export function uploadButton(getFolderId, { title } = {}) {
  const input = h('input', { type: 'file', multiple: true, accept: ACCEPT, class: 'sr-only', id: 'upload-input', 'data-testid': 'upload-input', tabindex: '-1', 'aria-hidden': 'true' });
  input.addEventListener('change', () => {
    if (input.files.length) uploadFiles(Array.from(input.files), getFolderId());
    input.value = '';
  });
  const btn = h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'upload-button', title, onclick: () => input.click() }, icon('upload', 16), h('span', null, 'Upload'));
  return h('span', { class: 'upload-btn' }, btn, input);
}
