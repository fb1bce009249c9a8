// The dashboard, the start page (`#/`): the saved views marked for it (their first documents,
// "N more"), what is not filed yet (the Inbox), what is being processed (live) and what failed,
// and what was added last. One GET /api/v1/dashboard (ten rows per part at most) and one page
// of the newest documents, reloaded when documents change: fast whatever the library's size.
import { h, icon, plural, put, debounce } from '../dom.js';
import { get, on, session, thumbUrl, sentence } from '../api.js';
import { href, navigate } from '../router.js';
import { toast, spinner, errorBox, setTitle } from '../ui.js';
import { stateBadge, updateBadge, applyEventToDoc, isFileDrag } from '../common.js';
import { uploadButton, uploadFiles } from '../uploads.js';
import { docDate } from '../metadata.js';
import { viewHref, sortLabel } from '../savedviews.js';
import { viewDialog } from './viewdialog.js';
import { isLive } from '../ws.js';

const ROWS = 6;
const ACTIVE = new Set(['queued', 'processing']);

/** A server error as the dashboard got it ("400 validation: no field …"): the message only. */
const errorWords = (e) => sentence(String(e || '').replace(/^\d{3}\s+[\w-]+:\s*/, ''));

export async function dashboardView() {
  setTitle('Dashboard');
  const main = document.getElementById('main');
  const st = { data: null, recent: null, alive: true };
  const inboxId = () => (session.roots && session.roots.inbox ? session.roots.inbox.id : undefined);

  const newViewBtn = h('button', { type: 'button', class: 'btn', 'data-testid': 'new-view', 'aria-label': 'New view', title: 'Make a saved view', onclick: () => newView() }, icon('view', 16), h('span', null, 'New view'));
  const grid = h('div', { class: 'dash-grid', 'data-testid': 'dashboard' }, spinner());
  const view = h('section', { class: 'dashboard-view', 'aria-labelledby': 'dash-title' },
    h('div', { class: 'view-head' },
      h('div', { class: 'head-row' },
        h('h1', { class: 'view-title', id: 'dash-title' }, icon('dashboard', 22), h('span', null, 'Dashboard')),
        h('div', { class: 'toolbar' }, newViewBtn, uploadButton(inboxId, { title: 'Upload into your Inbox' })))),
    grid);
  put(main, view);

  async function newView() {
    const v = await viewDialog({ onDashboard: true });
    if (!v) return;
    toast(`Saved the view “${v.name}”.`);
    navigate(`/view/${v.id}`);
  }

  // ---- data ----
  async function load() {
    const [d, r] = await Promise.all([get('/dashboard'), get('/documents', { sort: '-created_at', page_size: ROWS })]);
    if (!st.alive) return;
    st.data = d; st.recent = r;
    render();
  }
  const reload = debounce(() => load().catch(() => {}), 400);

  // ---- pieces ----
  function thumb(d) {
    return d.state === 'ready' && d.page_count > 0
      ? h('span', { class: 'thumb thumb-sm' }, h('img', { src: thumbUrl(d.id, 1), alt: '', loading: 'lazy', decoding: 'async' }))
      : h('span', { class: 'thumb thumb-sm thumb-doc' }, icon('doc', 14));
  }
  /** A compact row: thumbnail, title, date and correspondent (or the live state). */
  function docRow(d, { live = false, error = false } = {}) {
    const dd = docDate(d);
    return h('li', { class: 'dash-row', 'data-testid': 'dash-doc', 'data-doc-id': d.id },
      thumb(d),
      h('span', { class: 'dash-main' },
        h('a', { class: 'row-link', href: href(`/doc/${d.id}`) }, d.title),
        error && d.error ? h('span', { class: 'row-error' }, sentence(d.error))
          : h('span', { class: 'dash-sub muted small' },
            h('span', { class: dd.written ? 'written' : '', title: dd.title }, dd.text),
            d.correspondent ? h('span', { class: 'row-corr', title: `Correspondent: ${d.correspondent.name}` }, icon('contact', 12), h('span', null, d.correspondent.name)) : null)),
      live || ACTIVE.has(d.state) || d.state === 'failed' ? stateBadge(d) : null);
  }
  function card({ testid, title, titleHref, iconName, count, children, foot, attrs = {}, extra = null }) {
    const hid = `dh-${testid}-${attrs['data-view-id'] || ''}`;
    return h('section', { class: 'card dash-card', 'data-testid': testid, 'aria-labelledby': hid, ...attrs },
      h('div', { class: 'dash-head' },
        icon(iconName, 18),
        h('h2', { id: hid }, titleHref ? h('a', { href: titleHref, 'data-testid': `${testid}-link` }, title) : title),
        count != null ? h('span', { class: 'count-pill', 'data-testid': `${testid}-total` }, count.toLocaleString()) : null,
        h('span', { class: 'spacer' }), extra),
      children,
      foot ? h('div', { class: 'dash-foot' }, foot) : null);
  }
  const more = (n, to, testid, what = 'more') => (n > 0 ? h('a', { href: to, class: 'dash-more', 'data-testid': testid }, `${n.toLocaleString()} ${what}`, icon('chevronRight', 14)) : null);
  const emptyLine = (text) => h('p', { class: 'muted small dash-empty' }, text);

  function processingCard(p) {
    const active = (p.processing || 0) + (p.queued || 0);
    const counts = h('p', { class: 'dash-counts small', 'data-testid': 'dash-processing-counts' },
      h('span', { class: 'badge state-processing' }, `${(p.processing || 0).toLocaleString()} processing`),
      h('span', { class: 'badge state-queued' }, `${(p.queued || 0).toLocaleString()} queued`),
      p.failed ? h('a', { class: 'badge state-failed', href: href('/recent', { state: 'failed' }), 'data-testid': 'dash-failed-link' }, `${p.failed.toLocaleString()} failed`) : null);
    const items = (p.items || []).slice(0, ROWS);
    const failed = (p.failed_items || []).slice(0, 3);
    return card({
      testid: 'dash-processing', title: 'Processing', iconName: 'refresh',
      children: [
        counts,
        items.length ? h('ul', { class: 'dash-list', 'data-testid': 'dash-processing-list' }, items.map((d) => docRow(d, { live: true }))) : (active ? null : emptyLine('Nothing is waiting: every document is processed.')),
        active > items.length ? more(active - items.length, href('/recent'), 'dash-processing-more', 'more in Recent') : null,
        failed.length ? [h('h3', { class: 'dash-sub-h' }, 'Failed'), h('ul', { class: 'dash-list', 'data-testid': 'dash-failed-list' }, failed.map((d) => docRow(d, { error: true })))] : null,
      ],
      foot: p.failed ? h('a', { href: href('/recent', { state: 'failed' }), class: 'dash-more', 'data-testid': 'dash-failed-all' }, `Show the failed ${p.failed === 1 ? 'document' : `${p.failed.toLocaleString()} documents`}`, icon('chevronRight', 14)) : null,
    });
  }

  function viewCard(v) {
    const items = (v.items || []).map((x) => x.document || x).slice(0, ROWS);
    return card({
      testid: 'dash-view', title: v.view.name, titleHref: viewHref(v.view.id), iconName: 'view', count: v.error ? null : v.total,
      attrs: { 'data-view-id': v.view.id },
      extra: h('span', { class: 'muted small dash-sort', title: v.view.query || 'Every document' }, sortLabel(v.view.sort)),
      children: v.error
        ? h('p', { class: 'error-text small', role: 'alert', 'data-testid': 'dash-view-error' }, icon('alert', 14), h('span', null, `This view’s query does not work: ${errorWords(v.error)}`))
        : (items.length ? h('ul', { class: 'dash-list' }, items.map((d) => docRow(d))) : emptyLine('No documents match now.')),
      foot: v.error ? h('a', { href: viewHref(v.view.id), class: 'dash-more' }, 'Open the view to fix it', icon('chevronRight', 14)) : more(v.total - items.length, viewHref(v.view.id), 'dash-view-more'),
    });
  }

  function inboxCard(ib) {
    const items = (ib.items || []).slice(0, ROWS);
    const to = href(`/folder/${ib.folder_id}`);
    return card({
      testid: 'dash-inbox', title: 'Not filed yet', titleHref: to, iconName: 'inbox', count: ib.total,
      children: items.length ? h('ul', { class: 'dash-list' }, items.map((d) => docRow(d))) : emptyLine('The Inbox is empty: everything is filed.'),
      foot: h('a', { href: to, class: 'dash-more', 'data-testid': 'dash-inbox-open' }, ib.total > items.length ? `${(ib.total - items.length).toLocaleString()} more in the Inbox` : 'Open the Inbox', icon('chevronRight', 14)),
    });
  }

  function recentCard(r) {
    const items = (r.items || []).slice(0, ROWS);
    return card({
      testid: 'dash-recent', title: 'Recently added', titleHref: href('/recent'), iconName: 'clock',
      children: items.length ? h('ul', { class: 'dash-list' }, items.map((d) => docRow(d))) : emptyLine('No documents yet. Upload PDFs or images, or drop them here: they go to your Inbox.'),
      foot: items.length ? h('a', { href: href('/recent'), class: 'dash-more', 'data-testid': 'dash-recent-all' }, `All ${plural(r.total, 'document', 'documents')}`, icon('chevronRight', 14)) : null,
    });
  }

  function noViewsCard() {
    return card({
      testid: 'dash-no-views', title: 'Saved views', iconName: 'view',
      children: h('p', { class: 'muted small' }, 'A view is a saved search with its sort and columns, like “Unpaid invoices” (',
        h('code', null, 'type:Invoice no:paid'), '). Save one from a search or a filtered list, tick “Show on the dashboard”, and it shows here.'),
      foot: h('button', { type: 'button', class: 'btn btn-small', onclick: () => newView() }, icon('plus', 14), 'New view'),
    });
  }

  function render() {
    const d = st.data;
    const p = d.processing || {};
    const busy = (p.processing || 0) + (p.queued || 0) + (p.failed || 0) > 0;
    const views = d.views || [];
    put(grid,
      busy ? processingCard(p) : null,
      views.length ? views.map(viewCard) : noViewsCard(),
      inboxCard(d.inbox || { items: [], total: 0, folder_id: inboxId() }),
      recentCard(st.recent || { items: [], total: 0 }),
      busy ? null : processingCard(p));
    view.dataset.loaded = 'true';
  }

  // ---- live ----
  function liveBadges(ev) {
    if (!st.data) return false;
    const p = st.data.processing || {};
    const d = (p.items || []).find((x) => x.id === ev.document_id);
    if (!d || !applyEventToDoc(d, ev)) return false;
    const b = grid.querySelector(`[data-testid="dash-processing"] [data-doc-id="${d.id}"] [data-testid="doc-state"]`);
    if (b) updateBadge(b, d);
    return true;
  }
  const offs = [
    on('event', (ev) => {
      if (ev.type === 'job.progress') { liveBadges(ev); return; }
      if (ev.type === 'document.processing') { liveBadges(ev); reload(); return; }
      if (ev.type.startsWith('document.') || ev.type.startsWith('tag.') || ev.type === 'bulk.progress') reload();
    }),
    on('uploaded', () => reload()),
    on('views', () => reload()),
    on('ws-reconnected', () => reload()),
  ];
  const poll = setInterval(() => {
    const p = st.data && st.data.processing;
    if (!isLive() && p && (p.processing || p.queued)) reload();
  }, 5000);

  // Files dropped anywhere on the dashboard go to the Inbox.
  view.addEventListener('dragover', (e) => { if (isFileDrag(e)) { e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; } });
  view.addEventListener('drop', (e) => {
    if (!isFileDrag(e)) return;
    e.preventDefault();
    const files = Array.from(e.dataTransfer.files);
    if (files.length) uploadFiles(files, inboxId());
  });

  try { await load(); } catch (e) { put(grid, errorBox(e, () => { put(grid, spinner()); load().catch((x) => put(grid, errorBox(x))); })); }

  return () => {
    st.alive = false;
    offs.forEach((f) => f());
    clearInterval(poll);
    reload.cancel();
  };
}
