// Document view: thumbnails, page preview, page text, title, tags, versions, downloads.
import { h, icon, iconButton, fmtDateTime, fmtSize, tagChip, localUrl, safeColor, debounce, plural, put } from '../dom.js';
import { get, post, patch, del, on, session, loadTags, emit, thumbUrl, previewUrl, downloadUrl, sentence } from '../api.js';
import { href, navigate, setQuery } from '../router.js';
import { toast, toastError, confirmDialog, modal, spinner, errorBox, setTitle } from '../ui.js';
import { stateBadge, updateBadge, applyEventToDoc, stateText, reprocessHelps } from '../common.js';
import { pickFolder } from './movedialog.js';
import { isLive } from '../ws.js';
import { loadMetadata } from '../metadata.js';
import { metadataPanel } from './docmeta.js';
import { notesPanel } from './docnotes.js';
import { historyPanel } from './dochistory.js';
import { suggestionsPanel } from './docsuggest.js';
import { llmPanel } from './docllm.js';
import { dryRunView } from './workflows.js';

const PALETTE = ['#4f7df0', '#2fa37a', '#e0a526', '#e05a4f', '#9b5de5', '#00a6c4', '#f07fb6', '#6b7a90'];

export async function docView({ params, query }) {
  const main = document.getElementById('main');
  const id = Number(params.id);
  const st = { doc: null, pages: [], page: Math.max(1, Number(query.get('page')) || 1), alive: true, editing: false, folder: null, selected: new Set(), busy: false };
  let dragPages = null;

  put(main, h('section', { class: 'doc-view' }, spinner('Loading document')));
  // Gone from the page when another page was opened while this one loaded: then it stays away.
  const placeholder = main.firstElementChild;

  // ---- elements ----
  const crumbs = h('ol', { class: 'breadcrumbs' });
  const titleText = h('span', { class: 'title-text', 'data-testid': 'doc-title' });
  const editBtn = iconButton('edit', 'Rename document', { 'data-testid': 'title-edit' });
  const titleH = h('h1', { class: 'view-title doc-title' }, titleText, editBtn);
  const badge = h('span');
  const actions = h('div', { class: 'toolbar doc-actions' });
  const banner = h('div', { class: 'doc-banner', hidden: true });
  const thumbs = h('ol', { class: 'thumbs', 'aria-label': 'Pages', 'data-testid': 'thumbs' });
  const pageLabel = h('span', { class: 'page-label', 'aria-live': 'polite', 'data-testid': 'page-label' });
  const prevBtn = iconButton('chevronLeft', 'Previous page (←)', { 'data-testid': 'prev-page' });
  const nextBtn = iconButton('chevronRight', 'Next page (→)', { 'data-testid': 'next-page' });
  const stage = h('div', { class: 'stage' });
  const pageTools = h('div', { class: 'page-tools', role: 'toolbar', 'aria-label': 'Page operations', 'data-testid': 'page-tools', hidden: true });
  const textSource = h('span', { class: 'muted small' });
  const textEl = h('pre', { class: 'page-text', 'data-testid': 'page-text', tabindex: '0', 'aria-label': 'Text of the current page' });
  const copyBtn = iconButton('copy', 'Copy page text');
  const tagSection = h('section', { class: 'side-sec', 'data-testid': 'tag-editor', 'aria-labelledby': 'tags-h' });
  const detailSection = h('section', { class: 'side-sec', 'aria-labelledby': 'details-h' });
  const versionSection = h('section', { class: 'side-sec', 'aria-labelledby': 'versions-h' });
  const history = historyPanel({ docId: id });
  // Workflows (#23): what they would do to this document now (the dry run; nothing changes).
  const wfButton = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'doc-workflows-dry-run' }, icon('workflow', 14), 'What would workflows do?');
  wfButton.addEventListener('click', async () => {
    try {
      const r = await post('/workflows/dry-run', { document_id: id });
      await modal({
        title: 'Workflows on this document', testid: 'doc-workflows-dialog', wide: true,
        build: () => h('div', { class: 'wf-dry-list' },
          r.results.length ? r.results.map((x) => h('div', null, dryRunView(x), h('p', { class: 'muted small' }, `When: ${x.trigger}${x.enabled ? '' : ' (switched off)'}`)))
            : h('p', { class: 'muted' }, 'You have no workflows yet.'),
          h('p', { class: 'muted small' }, h('a', { href: '#/workflows' }, 'Workflows'), ' · a dry run: nothing was changed or sent.')),
      });
    } catch (ex) { toastError(ex); }
  });
  const wfSection = h('section', { class: 'side-sec', 'aria-label': 'Workflows' }, wfButton);
  const meta = metadataPanel({ docId: id, getDoc: () => st.doc, setDoc: (d) => { st.doc = d; renderHead(); renderCrumbs(); renderDetails(); history.refresh(); } });
  const notes = notesPanel({ docId: id, onChange: () => history.refresh() });
  const suggest = suggestionsPanel({ docId: id, getDoc: () => st.doc, onAccepted: (d) => { if (d) st.doc = d; renderAll(); history.refresh(); suggest.refresh(); llm.refresh(); } });
  const llm = llmPanel({ docId: id, getDoc: () => st.doc, onAccepted: (d) => { if (d) st.doc = d; renderAll(); history.refresh(); suggest.refresh(); llm.refresh(); } });

  const view = h('section', { class: 'doc-view' },
    h('div', { class: 'view-head' },
      h('nav', { 'aria-label': 'Breadcrumb' }, crumbs),
      h('div', { class: 'head-row' }, h('div', { class: 'title-row' }, titleH, badge), actions),
      banner),
    h('div', { class: 'doc-grid' },
      thumbs,
      h('div', { class: 'viewer' },
        pageTools,
        h('div', { class: 'pager-bar' }, prevBtn, pageLabel, nextBtn),
        stage),
      h('aside', { class: 'doc-side', 'aria-label': 'Document details' },
        meta.el,
        suggest.el,
        llm.el,
        h('section', { class: 'side-sec text-sec', 'aria-labelledby': 'text-h' },
          h('div', { class: 'sec-head' }, h('h2', { id: 'text-h' }, 'Page text'), textSource, copyBtn),
          textEl),
        tagSection, notes.el, detailSection, history.el, wfSection, versionSection)));

  // ---- loading ----
  async function loadDoc() {
    const d = await get(`/documents/${id}`);
    st.doc = d;
    return d;
  }
  async function loadPages() {
    if (!st.doc || !(st.doc.state === 'ready' || st.doc.page_count > 0)) { st.pages = []; return; }
    try {
      const r = await get(`/documents/${id}/pages`);
      st.pages = (r.items || []).slice().sort((a, b) => a.number - b.number);
    } catch (e) { if (e.status !== 409) throw e; st.pages = []; }
  }
  async function loadFolderCrumbs() {
    try { st.folder = await get(`/folders/${st.doc.folder_id}`); } catch { st.folder = null; }
    renderCrumbs();
  }

  // ---- rendering ----
  function renderCrumbs() {
    const bc = st.folder ? (st.folder.breadcrumbs && st.folder.breadcrumbs.length ? st.folder.breadcrumbs : [{ id: st.folder.id, name: st.folder.name }]) : [];
    put(crumbs, ...bc.map((b) => h('li', null, h('a', { href: href(`/folder/${b.id}`), class: 'crumb' }, b.name))),
      h('li', null, h('span', { 'aria-current': 'page' }, st.doc ? st.doc.title : '')));
  }

  function renderHead() {
    const d = st.doc;
    setTitle(d.title);
    if (!st.editing) titleText.textContent = d.title;
    put(badge, stateBadge(d));
    const ready = d.state === 'ready';
    const searchable = ready
      ? h('a', { class: 'btn', href: downloadUrl(d.id, 'searchable'), download: '', 'data-testid': 'download-searchable' }, icon('download', 16), h('span', null, 'Searchable PDF'))
      : h('a', { class: 'btn', 'aria-disabled': 'true', role: 'link', tabindex: '-1', title: 'Available once processing has finished', 'data-testid': 'download-searchable' }, icon('download', 16), h('span', null, 'Searchable PDF'));
    put(actions, ...[
      reprocessHelps(d) ? h('button', { type: 'button', class: 'btn btn-primary', 'data-testid': 'reprocess', onclick: reprocess }, icon('refresh', 16), h('span', null, 'Reprocess')) : null,
      h('a', { class: 'btn', href: downloadUrl(d.id, 'original'), download: '', 'data-testid': 'download-original' }, icon('download', 16), h('span', null, 'Original')),
      searchable,
      d.trashed_at ? null : h('button', { type: 'button', class: 'btn', 'data-testid': 'move-button', onclick: move }, icon('move', 16), h('span', null, 'Move')),
      d.trashed_at ? null : h('button', { type: 'button', class: 'btn btn-danger-soft', 'data-testid': 'trash-button', onclick: trash }, icon('trash', 16), h('span', null, 'Trash')),
    ].filter(Boolean));
    put(banner);
    banner.className = 'doc-banner';
    if (d.trashed_at) {
      banner.classList.add('warn');
      banner.append(icon('trash', 18), h('span', null, `This document is in the trash (since ${fmtDateTime(d.trashed_at)}).`),
        h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'restore-button', onclick: restore }, icon('restore', 16), 'Restore'));
    } else if (d.state === 'failed') {
      banner.classList.add('error');
      const why = d.error ? sentence(d.error) : 'The reason was not recorded.';
      const next = reprocessHelps(d) ? 'The original file is kept safe; Reprocess tries again.' : 'The original file is kept; reprocessing cannot fix it.';
      banner.append(icon('alert', 18), h('span', { 'data-testid': 'doc-error' }, `Processing failed: ${why} ${next}`));
    } else if (d.state !== 'ready') {
      banner.classList.add('info');
      banner.append(h('span', { class: 'spinner small', 'aria-hidden': 'true' }), h('span', null, d.state === 'queued' ? 'Waiting to be processed…' : `Processing: ${stateText(d).toLowerCase()}…`));
    }
    if (d.duplicate_of) banner.append(h('span', { class: 'dup-note' }, 'Same file as ', h('a', { href: href(`/doc/${d.duplicate_of}`) }, `document #${d.duplicate_of}`), '.'));
    banner.hidden = !banner.childNodes.length;
  }

  const editable = () => !!st.doc && st.doc.state === 'ready' && !st.doc.trashed_at && st.pages.length > 0;

  function renderThumbs() {
    const can = editable();
    put(thumbs, ...st.pages.map((p) => {
      const ratio = p.width && p.height ? `${p.width} / ${p.height}` : '3 / 4';
      const b = h('button', { type: 'button', class: 'thumb-btn', 'aria-label': `Page ${p.number}`, 'data-testid': 'page-thumb', dataset: { page: p.number }, onclick: () => go(p.number) },
        h('img', { src: localUrl(p.thumbnail_url, thumbUrl(id, p.number)), alt: '', loading: 'lazy', decoding: 'async', draggable: 'false', style: { aspectRatio: ratio } }),
        h('span', { class: 'thumb-num' }, String(p.number)));
      if (!can) return h('li', null, b);
      const check = h('input', { type: 'checkbox', class: 'page-check', checked: st.selected.has(p.number), 'aria-label': `Select page ${p.number}`, 'data-testid': 'page-check',
        onchange: (e) => { if (e.target.checked) st.selected.add(p.number); else st.selected.delete(p.number); li.classList.toggle('selected', e.target.checked); renderPageTools(); } });
      const li = h('li', { class: `page-item${st.selected.has(p.number) ? ' selected' : ''}`, draggable: 'true', 'data-testid': 'page-item', dataset: { page: p.number }, title: 'Drag to reorder' }, b, check);
      // Drag and drop: the dragged page (or the selection it belongs to) goes before the page it is dropped on.
      li.addEventListener('dragstart', (e) => {
        dragPages = st.selected.has(p.number) ? targetPages() : [p.number];
        e.dataTransfer.effectAllowed = 'move';
        e.dataTransfer.setData('text/plain', `pages ${dragPages.join(',')}`);
      });
      li.addEventListener('dragover', (e) => { if (dragPages) { e.preventDefault(); e.dataTransfer.dropEffect = 'move'; li.classList.add('drop-before'); } });
      li.addEventListener('dragleave', () => li.classList.remove('drop-before'));
      li.addEventListener('dragend', () => { dragPages = null; thumbs.querySelectorAll('.drop-before').forEach((x) => x.classList.remove('drop-before')); });
      li.addEventListener('drop', (e) => {
        e.preventDefault();
        li.classList.remove('drop-before');
        const moving = dragPages; dragPages = null;
        if (moving) reorderBefore(moving, p.number);
      });
      return li;
    }), can ? dropAtEnd() : null);
  }
  function dropAtEnd() {
    const zone = h('li', { class: 'page-drop-end', 'data-testid': 'page-drop-end', 'aria-hidden': 'true' }, 'Drop here to move to the end');
    zone.addEventListener('dragover', (e) => { if (dragPages) { e.preventDefault(); zone.classList.add('drop-before'); } });
    zone.addEventListener('dragleave', () => zone.classList.remove('drop-before'));
    zone.addEventListener('drop', (e) => { e.preventDefault(); zone.classList.remove('drop-before'); const moving = dragPages; dragPages = null; if (moving) reorderBefore(moving, null); });
    return zone;
  }

  // ---- page operations ----
  /** The selected pages, or the page on screen when none is selected. */
  function targetPages() { return st.selected.size ? [...st.selected].sort((a, b) => a - b) : (st.pages.length ? [st.page] : []); }

  function renderPageTools() {
    if (!st.doc || !editable()) { pageTools.hidden = true; return; }
    pageTools.hidden = false;
    const n = st.selected.size;
    put(pageTools, 
      h('span', { class: 'muted small sel-label', 'data-testid': 'page-selection' }, n ? `${plural(n, 'page', 'pages')} selected` : `Page ${st.page}`),
      h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'rotate-left', title: 'Rotate 90° counter-clockwise', onclick: () => rotatePages(270) }, icon('restore', 16), 'Rotate left'),
      h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'rotate-right', title: 'Rotate 90° clockwise', onclick: () => rotatePages(90) }, icon('refresh', 16), 'Rotate right'),
      h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'move-pages', onclick: movePages }, icon('move', 16), 'Move to…'),
      h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'extract-pages', title: 'Copy the pages into a new document in this folder', onclick: extractPages }, icon('copy', 16), 'Extract'),
      h('button', { type: 'button', class: 'btn btn-small btn-danger-soft', 'data-testid': 'delete-pages', onclick: deletePages }, icon('trash', 16), 'Delete'),
      n ? h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'clear-page-selection', onclick: () => { st.selected.clear(); renderThumbs(); renderPageTools(); } }, 'Clear') : '');
  }

  /** One page operation: sends the version on screen (a stale one gets 409 and a reload). */
  async function pageOp(path, body, done) {
    if (st.busy) return;
    st.busy = true;
    pageTools.classList.add('busy');
    try {
      const r = await post(path, { base_version: st.doc.version.id, ...body });
      const mine = (r.documents || []).find((x) => x.id === id);
      if (mine) st.doc = mine;
      st.selected.clear();
      await loadPages();
      if (!st.alive) return;
      renderAll();
      renderVersions();
      toast(done(r));
      emit('changed', { kind: 'pages' });
    } catch (e) {
      toastError(e);
      if (e.status === 409) reload();
    } finally {
      st.busy = false;
      pageTools.classList.remove('busy');
    }
  }
  const pagesText = (pages) => (pages.length === 1 ? `Page ${pages[0]}` : `${pages.length} pages`);
  function rotatePages(degrees) {
    const pages = targetPages();
    if (pages.length) pageOp(`/documents/${id}/pages/rotate`, { pages, degrees }, () => `${pagesText(pages)} rotated.`);
  }
  async function deletePages() {
    const pages = targetPages();
    if (!pages.length) return;
    if (pages.length >= st.pages.length) { toastError('A document cannot lose all its pages: move the document to the trash instead.'); return; }
    const ok = await confirmDialog({ title: `Delete ${pagesText(pages).toLowerCase()}?`, message: 'They are removed from a new version of this document; earlier versions keep them.', confirmLabel: 'Delete', danger: true, testid: 'delete-pages-dialog' });
    if (ok) pageOp(`/documents/${id}/pages/delete`, { pages }, () => `${pagesText(pages)} deleted.`);
  }
  function reorderBefore(moving, before) {
    if (before !== null && moving.includes(before)) return;
    const rest = st.pages.map((p) => p.number).filter((n) => !moving.includes(n));
    const at = before === null ? rest.length : rest.indexOf(before);
    const order = [...rest.slice(0, at), ...moving, ...rest.slice(at)];
    if (order.every((n, i) => n === i + 1)) return;
    pageOp(`/documents/${id}/pages/reorder`, { order }, () => 'Pages reordered.');
  }
  function extractPages() {
    const pages = targetPages();
    if (pages.length) pageOp(`/documents/${id}/pages/extract`, { pages }, (r) => `${pagesText(pages)} copied to the new document “${r.created.title}”.`);
  }
  async function restoreVersion(v) {
    const ok = await confirmDialog({ title: `Restore version ${v.number}?`, message: `A new version is made with the pages of version ${v.number}; the current one stays in the list.`, confirmLabel: 'Restore', testid: 'restore-version-dialog' });
    if (ok) pageOp(`/documents/${id}/versions/${v.id}/restore`, {}, () => `Version ${v.number} restored as the newest.`);
  }
  async function movePages() {
    const pages = targetPages();
    if (!pages.length) return;
    let docs = [];
    try {
      const r = await get('/documents', { folder_id: st.doc.folder_id, page_size: 200, sort: 'title' });
      docs = (r.items || []).filter((x) => x.id !== id && x.state === 'ready');
    } catch (e) { toastError(e); return; }
    const choice = await modal({
      title: `Move ${pagesText(pages).toLowerCase()} to…`, testid: 'move-pages-dialog',
      build: (close) => {
        const target = h('select', { id: 'move-target', 'data-testid': 'move-target' },
          h('option', { value: 'new' }, 'A new document in this folder'),
          docs.map((x) => h('option', { value: String(x.id) }, `${x.title} (${plural(x.page_count, 'page', 'pages')})`)));
        const position = h('input', { id: 'move-position', type: 'number', min: '1', placeholder: 'at the end', 'data-testid': 'move-position' });
        return h('form', { class: 'form', onsubmit: (e) => { e.preventDefault(); close({ target: target.value, position: position.value ? Number(position.value) : null }); } },
          h('label', { for: 'move-target' }, 'Document'), target,
          h('label', { for: 'move-position' }, 'Before page (of that document)'), position,
          h('div', { class: 'dialog-actions' },
            h('button', { type: 'button', class: 'btn', onclick: () => close(undefined) }, 'Cancel'),
            h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'move-pages-confirm' }, 'Move')));
      },
    });
    if (!choice) return;
    if (choice.target === 'new') {
      pageOp(`/documents/${id}/pages/move`, { pages }, (r) => `${pagesText(pages)} moved to the new document “${r.created.title}”.`);
      return;
    }
    const t = docs.find((x) => String(x.id) === choice.target);
    if (!t) return;
    const body = { pages, to_document: t.id, to_base_version: t.version.id };
    if (choice.position) body.position = choice.position;
    pageOp(`/documents/${id}/pages/move`, body, () => `${pagesText(pages)} moved to “${t.title}”.`);
  }

  function renderPage() {
    const n = st.pages.length;
    const d = st.doc;
    if (!n) {
      pageTools.hidden = true;
      pageLabel.textContent = d.page_count ? `${d.page_count} pages` : '';
      prevBtn.disabled = true; nextBtn.disabled = true;
      const msg = d.state === 'failed' ? 'No preview: processing failed.' : d.state === 'ready' ? 'This document has no pages.' : `Preview appears when processing is done (${stateText(d).toLowerCase()}).`;
      put(stage, h('div', { class: 'stage-empty' }, icon(d.state === 'failed' ? 'alert' : 'doc', 40), h('p', null, msg)));
      put(textEl, h('span', { class: 'muted' }, d.state === 'failed' ? 'No text: processing failed.' : 'Text appears when processing is done.'));
      textSource.textContent = '';
      copyBtn.hidden = true;
      return;
    }
    if (st.page > n) st.page = n;
    const p = st.pages[st.page - 1];
    pageLabel.textContent = `Page ${st.page} of ${n}`;
    prevBtn.disabled = st.page <= 1;
    nextBtn.disabled = st.page >= n;
    const ratio = p.width && p.height ? `${p.width} / ${p.height}` : '3 / 4';
    const src = localUrl(p.preview_url, previewUrl(id, p.number));
    let img = stage.querySelector('img.preview');
    if (!img) {
      img = h('img', { class: 'preview', 'data-testid': 'page-preview', decoding: 'async' });
      img.addEventListener('load', () => img.classList.remove('loading'));
      img.addEventListener('error', () => img.classList.remove('loading'));
      put(stage, h('div', { class: 'preview-frame' }, img));
    }
    img.style.aspectRatio = ratio;
    if (p.width && p.height) { img.width = p.width; img.height = p.height; }
    img.alt = `Page ${p.number} of ${d.title}`;
    if (img.getAttribute('src') !== src) { img.classList.add('loading'); img.src = src; }
    img.dataset.page = p.number;
    textEl.textContent = p.text && p.text.trim() ? p.text : '';
    textEl.dataset.empty = String(!(p.text && p.text.trim()));
    if (!textEl.textContent) textEl.append(h('span', { class: 'muted' }, 'No text was found on this page.'));
    textSource.textContent = p.source === 'ocr' ? 'recognised (OCR)' : p.source === 'text_layer' ? 'from the PDF text layer' : '';
    copyBtn.hidden = !(p.text && p.text.trim());
    renderPageTools();
    thumbs.querySelectorAll('.thumb-btn').forEach((b) => {
      const cur = Number(b.dataset.page) === st.page;
      b.classList.toggle('current', cur);
      if (cur) { b.setAttribute('aria-current', 'page'); b.scrollIntoView({ block: 'nearest', inline: 'nearest' }); } else b.removeAttribute('aria-current');
    });
    // Warm the cache for the neighbours.
    for (const m of [st.page + 1, st.page - 1]) {
      const q = st.pages[m - 1];
      if (q) { const pre = new Image(); pre.src = localUrl(q.preview_url, previewUrl(id, q.number)); }
    }
  }

  function go(n) {
    if (!st.pages.length) return;
    const m = Math.min(Math.max(1, n), st.pages.length);
    if (m === st.page && stage.querySelector('img.preview')) return;
    st.page = m;
    setQuery({ page: m > 1 ? m : undefined });
    renderPage();
  }

  function renderTags() {
    const d = st.doc;
    const listId = `tags-dl-${id}`;
    const input = h('input', { id: 'tag-input', list: listId, placeholder: 'Add a tag…', autocomplete: 'off', 'data-testid': 'tag-input', maxlength: 100 });
    const known = () => session.tags.find((t) => t.name.toLowerCase() === input.value.trim().toLowerCase());
    const color = h('input', { type: 'color', value: PALETTE[(session.tags.length) % PALETTE.length], 'aria-label': 'Colour for a new tag', title: 'Colour for a new tag', 'data-testid': 'tag-color' });
    const addBtn = h('button', { type: 'submit', class: 'btn btn-small', 'data-testid': 'tag-add' }, icon('plus', 14), 'Add');
    const syncColor = () => { const k = known(); color.disabled = !!k; if (k) color.value = safeColor(k.color); };
    input.addEventListener('input', syncColor);
    const form = h('form', { class: 'tag-form', onsubmit: async (e) => {
      e.preventDefault();
      const name = input.value.trim();
      if (!name) { input.focus(); return; }
      addBtn.disabled = true;
      try {
        let tag = known();
        if (!tag) {
          tag = await post('/tags', { name, color: color.value });
          emit('tags-changed');
          await loadTags().catch(() => {});
        }
        if ((d.tags || []).some((t) => t.id === tag.id)) { toast(`Already tagged “${tag.name}”.`); }
        else {
          st.doc = await post(`/documents/${id}/tags`, { tag_ids: [tag.id] });
          emit('tags-changed');
          toast(`Tagged “${tag.name}”.`);
        }
        renderTags();
        tagSection.querySelector('#tag-input').focus();
      } catch (ex) { toastError(ex); addBtn.disabled = false; }
    } },
    h('label', { for: 'tag-input', class: 'sr-only' }, 'Tag name'), input, color, addBtn,
    h('datalist', { id: listId }, session.tags.filter((t) => !(d.tags || []).some((x) => x.id === t.id)).map((t) => h('option', { value: t.name }))));
    const chips = (d.tags || []).length
      ? h('div', { class: 'tag-list', 'data-testid': 'doc-tags' }, d.tags.map((t) => tagChip(t, { onRemove: () => removeTag(t) })))
      : h('p', { class: 'muted small', 'data-testid': 'doc-tags' }, 'No tags yet.');
    put(tagSection, h('div', { class: 'sec-head' }, h('h2', { id: 'tags-h' }, 'Tags')), chips, form);
    syncColor();
  }
  async function removeTag(t) {
    try {
      st.doc = await del(`/documents/${id}/tags/${t.id}`) || await get(`/documents/${id}`);
      emit('tags-changed');
      toast(`Removed tag “${t.name}”.`);
      renderTags();
    } catch (e) { toastError(e); }
  }

  function renderDetails() {
    const d = st.doc; const v = d.version || {};
    const row = (k, val) => (val === '' || val == null ? null : [h('dt', null, k), h('dd', null, val)]);
    put(detailSection, h('div', { class: 'sec-head' }, h('h2', { id: 'details-h' }, 'Details')),
      h('dl', { class: 'details' },
        row('Pages', d.page_count ? String(d.page_count) : ''),
        row('File', v.filename || ''),
        row('Type', v.mime || ''),
        row('Size', v.size != null ? fmtSize(v.size) : ''),
        row('Added', fmtDateTime(d.created_at)),
        row('Changed', fmtDateTime(d.updated_at)),
        row('SHA-256', v.sha256 ? h('code', { title: v.sha256 }, `${v.sha256.slice(0, 16)}…`) : '')));
  }

  async function renderVersions() {
    put(versionSection, h('div', { class: 'sec-head' }, h('h2', { id: 'versions-h' }, 'Versions')), spinner());
    try {
      const r = await get(`/documents/${id}/versions`);
      if (!st.alive) return;
      const items = (r.items || []).slice().sort((a, b) => b.number - a.number);
      put(versionSection, h('div', { class: 'sec-head' }, h('h2', { id: 'versions-h' }, 'Versions')),
        h('ol', { class: 'versions', 'data-testid': 'versions' }, items.map((v) => h('li', null,
          h('div', { class: 'v-line' }, h('strong', null, `v${v.number}`), h('span', { class: 'v-file', title: v.filename }, v.filename),
            v.id !== st.doc.version.id && v.state === 'ready' && !st.doc.trashed_at && st.doc.state === 'ready'
              ? iconButton('restore', `Restore version ${v.number} as the newest`, { 'data-testid': 'restore-version', dataset: { version: v.number }, onclick: () => restoreVersion(v) })
              : null,
            h('a', { class: 'btn icon-btn', href: downloadUrl(id, 'original', v.id), download: '', 'aria-label': `Download version ${v.number} original`, title: 'Download original' }, icon('download', 16))),
          h('div', { class: 'muted small' }, [fmtDateTime(v.created_at), fmtSize(v.size), v.state].filter(Boolean).join(' · ')),
          v.note ? h('div', { class: 'small' }, v.note) : null))));
    } catch (e) {
      put(versionSection, h('div', { class: 'sec-head' }, h('h2', { id: 'versions-h' }, 'Versions')), h('p', { class: 'muted small' }, e.message));
    }
  }

  function renderAll() { renderHead(); renderCrumbs(); renderThumbs(); renderPage(); renderTags(); renderDetails(); renderMeta(); }
  function renderMeta() { meta.render(); notes.setReadOnly(!!st.doc.trashed_at); }

  // ---- title editing ----
  function startEdit() {
    if (st.editing) return;
    st.editing = true;
    const input = h('input', { class: 'title-input', value: st.doc.title, 'aria-label': 'Document title', 'data-testid': 'title-input', maxlength: 500 });
    let finished = false;
    const finish = async (save) => {
      if (finished) return; finished = true;
      const v = input.value.trim();
      st.editing = false;
      put(titleH, titleText, editBtn);
      if (save && v && v !== st.doc.title) {
        titleText.textContent = v;
        try { st.doc = await patch(`/documents/${id}`, { title: v }); toast('Title saved.'); } catch (e) { toastError(e); }
        renderHead(); renderCrumbs();
      } else titleText.textContent = st.doc.title;
      editBtn.focus();
    };
    input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter') { e.preventDefault(); finish(true); }
      else if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); finish(false); }
    });
    input.addEventListener('blur', () => finish(true));
    put(titleH, input);
    input.focus(); input.select();
  }
  editBtn.addEventListener('click', startEdit);
  titleText.addEventListener('dblclick', startEdit);

  // ---- actions ----
  async function reprocess() {
    try {
      await post(`/documents/${id}/reprocess`);
      st.doc.state = 'queued'; st.doc.error = null;
      toast('Queued for processing again.');
      renderHead(); renderPage();
    } catch (e) { toastError(e); }
  }
  async function move() {
    const target = await pickFolder({ startId: st.doc.folder_id });
    if (!target) return;
    if (target.id === st.doc.folder_id) { toast('Already in this folder.'); return; }
    try {
      st.doc = await patch(`/documents/${id}`, { folder_id: target.id });
      toast(`Moved to ${target.name}.`);
      emit('changed', { kind: 'move' });
      renderHead(); loadFolderCrumbs();
    } catch (e) { toastError(e); }
  }
  async function trash() {
    const ok = await confirmDialog({ title: 'Move to trash?', message: `“${st.doc.title}” will be moved to the trash. You can restore it from there.`, confirmLabel: 'Move to trash', danger: true });
    if (!ok) return;
    try {
      await del(`/documents/${id}`);
      toast('Moved to the trash.');
      emit('changed', { kind: 'trash' });
      st.doc.trashed_at = new Date().toISOString();
      renderHead(); renderMeta();
    } catch (e) { toastError(e); }
  }
  async function restore() {
    try {
      st.doc = await post(`/documents/${id}/restore`);
      toast('Restored.');
      emit('changed', { kind: 'restore' });
      renderHead(); renderMeta(); loadFolderCrumbs();
    } catch (e) { toastError(e); }
  }
  copyBtn.addEventListener('click', async () => {
    try { await navigator.clipboard.writeText(st.pages[st.page - 1].text || ''); toast('Text copied.'); } catch { toastError('Could not copy to the clipboard.'); }
  });
  prevBtn.addEventListener('click', () => go(st.page - 1));
  nextBtn.addEventListener('click', () => go(st.page + 1));

  function onKey(e) {
    if (document.querySelector('dialog[open]')) return;
    const t = e.target;
    if (t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    if (e.key === 'ArrowLeft' || e.key === 'PageUp') { e.preventDefault(); go(st.page - 1); }
    else if (e.key === 'ArrowRight' || e.key === 'PageDown') { e.preventDefault(); go(st.page + 1); }
    else if (e.key === 'Home') { e.preventDefault(); go(1); }
    else if (e.key === 'End') { e.preventDefault(); go(st.pages.length); }
  }
  document.addEventListener('keydown', onKey);

  // ---- live ----
  const reload = debounce(async () => {
    try {
      const wasReady = st.doc && st.doc.state === 'ready' && st.pages.length;
      const seen = st.doc && st.doc.version ? st.doc.version.id : null;
      const imagesChanged = st.pagesStale;
      st.pagesStale = false;
      await loadDoc();
      if (!st.alive) return;
      // Another version (a page operation here or elsewhere) or turned page images: new pages.
      const otherVersion = st.doc.version && st.doc.version.id !== seen;
      if (otherVersion) st.selected.clear();
      if (!wasReady || st.doc.state !== 'ready' || otherVersion || imagesChanged) await loadPages();
      if (!st.alive) return;
      renderAll();
      renderVersions();
      notes.refresh();
      history.refresh();
      suggest.refresh();
      llm.refresh();
    } catch (e) { if (e.status === 404) { toast('This document no longer exists.'); navigate('/'); } }
  }, 250);
  const offs = [
    on('event', (ev) => {
      if (ev.document_id === id) {
        if (ev.type === 'job.progress' && st.doc) {
          applyEventToDoc(st.doc, ev);
          const b = badge.querySelector('[data-testid="doc-state"]');
          if (b) updateBadge(b, st.doc);
          renderHead();
          if (!st.pages.length) renderPage();
          return;
        }
        if (ev.type === 'document.deleted') { toast('This document was deleted.'); navigate('/'); return; }
        if (ev.type === 'document.updated' && ev.data && ev.data.operation) st.pagesStale = true;
        if (ev.type === 'document.updated' && st.editing) return;
        reload();
      } else if (ev.type === 'tag.updated' || ev.type === 'tag.deleted') reload();
    }),
    on('tags', () => { if (st.doc && !tagSection.contains(document.activeElement)) renderTags(); }),
    on('ws-reconnected', () => reload()),
  ];
  const poll = setInterval(() => { if (!isLive() && st.doc && (st.doc.state === 'queued' || st.doc.state === 'processing')) reload(); }, 5000);
  const cleanup = () => {
    st.alive = false;
    offs.forEach((f) => f());
    clearInterval(poll);
    reload.cancel();
    meta.cleanup();
    llm.stop();
    document.removeEventListener('keydown', onKey);
  };

  // ---- go ----
  const metaLoaded = loadMetadata();
  try {
    await loadDoc();
    await loadPages();
    await metaLoaded;
  } catch (e) {
    if (!main.contains(placeholder)) return cleanup;
    setTitle('Document');
    put(main, h('section', { class: 'doc-view' }, errorBox(e.status === 404 ? new Error('This document does not exist (or was deleted).') : e, e.status === 404 ? null : () => navigate(`/doc/${id}`))));
    return cleanup;
  }
  if (!st.alive || !main.contains(placeholder)) return cleanup;
  put(main, view);
  renderAll();
  if (query.get('edit') === 'metadata') {
    // Straight into the metadata editor (the `e` key of a list); the address forgets it, so a
    // reload shows the document as usual.
    meta.edit();
    meta.el.scrollIntoView({ block: 'nearest' });
    setQuery({ page: st.page > 1 ? st.page : undefined });
  }
  loadFolderCrumbs();
  renderVersions();
  notes.refresh();
  history.refresh();
  suggest.refresh();
  llm.refresh();
  return cleanup;
}
