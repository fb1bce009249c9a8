// Documents by metadata: `#/documents?correspondent=3`, `?document_type=none`, a date range, an
// ASN. Where a correspondent's or a type's document count leads. Title, date, correspondent and
// type per row; newest document date first; "Load more" and endless scrolling. Rows can be
// selected for Edit… (bulk edit) and Tag…, and walked with the list keys; "Save as view" writes
// the filters in the search language (correspondent:"NAME" type:"NAME" created>=… ).
import { h, icon, plural, put, debounce } from '../dom.js';
import { get, on, thumbUrl, session } from '../api.js';
import { href, navigate } from '../router.js';
import { spinner, errorBox, emptyState, setTitle, toastError, toast } from '../ui.js';
import { stateBadge, trackSelectionBar, wireRowKeys, openDocRow, editDocRow, isTypingTarget } from '../common.js';
import { LABELS, loadMetadata, labelById, labelChip, labelHref, docDate } from '../metadata.js';
import { documentsFiltersToQuery } from '../savedviews.js';
import { saveAsViewButton } from './viewdialog.js';
import { bulkEditDialog } from './bulkedit.js';
import { bulkTagDialog, bulkTagMessage } from './tagdialog.js';

const PAGE = 50;
const SORTS = [['-date', 'Date, newest first'], ['date', 'Date, oldest first'], ['-created_at', 'Added, newest first'], ['title', 'Title A–Z'], ['asn', 'ASN, lowest first'], ['-asn', 'ASN, highest first']];
const KEYS = ['correspondent', 'document_type', 'date_from', 'date_to', 'asn', 'sort'];

export async function documentsView({ query }) {
  const main = document.getElementById('main');
  const q = Object.fromEntries(KEYS.map((k) => [k, query.get(k) || '']));
  if (!KEYS.some((k) => k !== 'sort' && q[k])) { navigate('/', null, { replace: true }); return undefined; }
  if (!SORTS.some(([v]) => v === q.sort)) q.sort = '-date';
  const st = { items: [], total: 0, done: false, loading: false, alive: true, selected: new Set() };

  put(main, spinner());
  const placeholder = main.firstElementChild;
  await loadMetadata();
  // Another page was opened meanwhile: it owns the page now.
  if (!main.contains(placeholder)) return undefined;

  const labelName = (key, v) => (v === 'none' ? `no ${LABELS[key].one}` : (labelById(key, Number(v)) || { name: `#${v}` }).name);
  function heading() {
    const parts = [];
    if (q.correspondent) parts.push(q.correspondent === 'none' ? 'without a correspondent' : `from ${labelName('correspondents', q.correspondent)}`);
    if (q.document_type) parts.push(q.document_type === 'none' ? 'without a type' : `of type ${labelName('document-types', q.document_type)}`);
    if (q.asn) parts.push(`with ASN ${q.asn}`);
    if (q.date_from && q.date_to) parts.push(`dated ${q.date_from} to ${q.date_to}`);
    else if (q.date_from) parts.push(`dated from ${q.date_from}`);
    else if (q.date_to) parts.push(`dated up to ${q.date_to}`);
    return `Documents ${parts.join(', ')}`;
  }
  const title = heading();
  setTitle(title);

  const labelSelect = (key, id) => h('select', { id, 'data-testid': `filter-${LABELS[key].testid}` },
    h('option', { value: '' }, 'Any'), h('option', { value: 'none' }, `No ${LABELS[key].one}`),
    session.labels[key].map((l) => h('option', { value: String(l.id) }, l.name)));
  const corrSel = labelSelect('correspondents', 'dl-corr');
  const typeSel = labelSelect('document-types', 'dl-type');
  corrSel.value = q.correspondent; typeSel.value = q.document_type;
  const fromIn = h('input', { id: 'dl-from', type: 'date', value: q.date_from, 'data-testid': 'filter-date-from' });
  const toIn = h('input', { id: 'dl-to', type: 'date', value: q.date_to, 'data-testid': 'filter-date-to' });
  const sortSel = h('select', { id: 'dl-sort', 'data-testid': 'sort-select' }, SORTS.map(([v, l]) => h('option', { value: v, selected: v === q.sort }, l)));
  const field = (id, label, input) => h('div', { class: 'field' }, h('label', { for: id }, label), input);
  const apply = () => {
    const next = { correspondent: corrSel.value, document_type: typeSel.value, date_from: fromIn.value, date_to: toIn.value, asn: q.asn, sort: sortSel.value === '-date' ? '' : sortSel.value };
    if (!KEYS.some((k) => k !== 'sort' && next[k])) { navigate('/'); return; }
    navigate('/documents', next);
  };
  for (const el of [corrSel, typeSel, fromIn, toIn, sortSel]) el.addEventListener('change', apply);
  const filters = h('form', { class: 'filters doc-filters', 'aria-label': 'Filters', 'data-testid': 'documents-filters', onsubmit: (e) => { e.preventDefault(); apply(); } },
    field('dl-corr', 'Correspondent', corrSel), field('dl-type', 'Type', typeSel),
    field('dl-from', 'Dated from', fromIn), field('dl-to', 'Dated up to', toIn), field('dl-sort', 'Sort', sortSel));

  const list = h('ul', { class: 'doc-list', 'data-testid': 'documents-list', 'aria-label': title });
  const countEl = h('span', { class: 'muted small', 'data-testid': 'documents-count' });
  const moreBtn = h('button', { type: 'button', class: 'btn', 'data-testid': 'load-more', hidden: true, onclick: () => loadMore() }, 'Load more');
  const foot = h('div', { class: 'list-foot' }, countEl, moreBtn);
  const body = h('div', { class: 'list-body' }, spinner());
  const single = q.correspondent && q.correspondent !== 'none' && !q.document_type ? ['correspondents', q.correspondent]
    : q.document_type && q.document_type !== 'none' && !q.correspondent ? ['document-types', q.document_type] : null;
  const back = single ? h('a', { class: 'btn btn-small', href: `#${LABELS[single[0]].path}`, 'aria-label': `All ${LABELS[single[0]].many}`, title: `All ${LABELS[single[0]].many}` }, icon(LABELS[single[0]].icon, 16), h('span', null, `All ${LABELS[single[0]].many}`)) : null;
  const saveBtn = saveAsViewButton(() => ({
    query: documentsFiltersToQuery(q, { labelName: (key, v) => labelName(key, v) }),
    sort: q.sort, name: title.replace(/^Documents /, '').replace(/^./, (c) => c.toUpperCase()).slice(0, 100),
  }), { onSaved: (v) => { toast(`Saved the view “${v.name}”.`); navigate(`/view/${v.id}`); } });

  // ---- selection ----
  const selCount = h('span', { class: 'sel-count', 'aria-live': 'polite', 'data-testid': 'selection-count' });
  const selBar = h('div', { class: 'selection-bar', 'data-testid': 'selection-bar', hidden: true },
    selCount,
    h('button', { type: 'button', class: 'btn btn-small btn-primary', 'data-testid': 'edit-selected', onclick: () => editSelected() }, icon('edit', 16), 'Edit…'),
    h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'tag-selected', onclick: () => tagSelected() }, icon('tag', 16), 'Tag…'),
    h('span', { class: 'spacer' }),
    h('button', { type: 'button', class: 'btn btn-small', onclick: () => { st.selected.clear(); syncSelection(); } }, 'Clear selection'));
  const untrackBar = trackSelectionBar(selBar);
  function syncSelection() {
    list.querySelectorAll('[data-testid="documents-row"]').forEach((row) => {
      const on = st.selected.has(Number(row.dataset.docId));
      row.classList.toggle('selected', on);
      row.setAttribute('aria-selected', String(on));
      row.querySelector('.row-check').checked = on;
    });
    const n = st.selected.size;
    selBar.hidden = !n;
    document.body.classList.toggle('has-selection', n > 0);
    selCount.textContent = `${plural(n, 'document', 'documents')} selected`;
  }
  const toggleDoc = (id, value) => { if (value) st.selected.add(id); else st.selected.delete(id); syncSelection(); };
  async function editSelected() {
    if (!st.selected.size) return;
    const r = await bulkEditDialog({ documents: [...st.selected], count: st.selected.size });
    if (r && r.state === 'done') { st.selected.clear(); syncSelection(); }
    refresh();
  }
  async function tagSelected() {
    const docs = st.items.filter((d) => st.selected.has(d.id));
    if (!docs.length) return;
    const r = await bulkTagDialog(docs);
    if (!r) return;
    toast(bulkTagMessage(r));
    refresh();
  }

  put(main, h('section', { class: 'documents-view', 'aria-labelledby': 'documents-title', 'data-testid': 'documents-page' },
    h('div', { class: 'view-head' },
      h('div', { class: 'head-row' }, h('h1', { class: 'view-title', id: 'documents-title' }, icon('doc', 22), h('span', { 'data-testid': 'documents-title' }, title)), h('div', { class: 'toolbar' }, saveBtn, back))),
    filters, body, selBar));

  function buildRow(d) {
    const dd = docDate(d);
    const thumb = d.state === 'ready' && d.page_count > 0
      ? h('span', { class: 'thumb' }, h('img', { src: thumbUrl(d.id, 1), alt: '', loading: 'lazy', decoding: 'async' }))
      : h('span', { class: 'thumb thumb-doc' }, icon('doc', 20));
    const check = h('input', { type: 'checkbox', class: 'row-check', 'aria-label': `Select ${d.title}`, 'data-testid': 'row-check' });
    check.addEventListener('click', (e) => { e.stopPropagation(); toggleDoc(d.id, check.checked); });
    const row = h('li', { class: 'drow', 'data-testid': 'documents-row', 'data-doc-id': d.id, 'aria-selected': 'false' },
      h('span', { class: 'c-check' }, check),
      thumb,
      h('span', { class: 'drow-main' },
        h('span', { class: 'name-line' }, h('a', { class: 'row-link', href: href(`/doc/${d.id}`) }, d.title), d.state !== 'ready' ? stateBadge(d) : null),
        h('span', { class: 'drow-meta' },
          d.correspondent ? h('a', { href: labelHref('correspondents', d.correspondent.id), class: 'chip-link', 'data-testid': 'row-correspondent' }, labelChip(d.correspondent)) : null,
          d.document_type ? h('a', { href: labelHref('document-types', d.document_type.id), class: 'chip-link', 'data-testid': 'row-doctype' }, labelChip(d.document_type)) : null,
          d.asn != null ? h('span', { class: 'muted small', title: 'Archive serial number' }, `ASN ${d.asn}`) : null,
          h('span', { class: `muted small drow-date-sm${dd.written ? ' written' : ''}`, title: dd.title }, dd.text))),
      h('span', { class: `drow-date muted${dd.written ? ' written' : ''}`, title: dd.title, 'data-testid': 'row-date' }, dd.text));
    row.addEventListener('click', (e) => { if (!e.target.closest('a, button, input')) toggleDoc(d.id, !st.selected.has(d.id)); });
    return row;
  }

  function render() {
    if (!st.items.length && st.done) {
      put(body, emptyState('doc', 'No documents match', 'Change the filters above, or set these on a document’s page.'));
      return;
    }
    if (!body.contains(list)) put(body, list, foot);
    put(list, st.items.map(buildRow));
    const ids = new Set(st.items.map((d) => d.id));
    for (const id of [...st.selected]) if (!ids.has(id)) st.selected.delete(id);
    syncSelection();
    keys.sync();
    countEl.textContent = st.total ? `${st.items.length.toLocaleString()} of ${plural(st.total, 'document', 'documents')}` : '';
    moreBtn.hidden = st.done;
  }

  const params = (page, size) => ({ correspondent: q.correspondent, document_type: q.document_type, date_from: q.date_from, date_to: q.date_to, asn: q.asn, sort: q.sort, page, page_size: size });
  async function loadMore() {
    if (st.loading || st.done) return;
    st.loading = true; moreBtn.disabled = true;
    try {
      const r = await get('/documents', params(Math.floor(st.items.length / PAGE) + 1, PAGE));
      if (!st.alive) return;
      const have = new Set(st.items.map((x) => x.id));
      for (const it of r.items) if (!have.has(it.id)) st.items.push(it);
      st.total = r.total;
      st.done = st.items.length >= r.total || r.items.length < PAGE;
      render();
    } catch (e) {
      if (!st.items.length) put(body, errorBox(e, () => { put(body, spinner()); loadMore(); }));
      else toastError(e);
    } finally { st.loading = false; moreBtn.disabled = false; }
  }
  async function refresh() {
    if (!st.alive) return;
    try {
      const r = await get('/documents', params(1, Math.min(500, Math.max(PAGE, st.items.length))));
      if (!st.alive) return;
      st.items = r.items; st.total = r.total; st.done = st.items.length >= r.total;
      render();
    } catch { /* the next event tries again */ }
  }
  const scheduleRefresh = debounce(refresh, 400);
  const io = new IntersectionObserver((entries) => { if (entries.some((e) => e.isIntersecting) && !st.done && st.items.length) loadMore(); }, { rootMargin: '400px' });
  io.observe(foot);
  const off = on('event', (ev) => { if (ev.type.startsWith('document.')) scheduleRefresh(); });
  const keys = wireRowKeys({
    rows: () => [...list.querySelectorAll('[data-testid="documents-row"]')],
    keyOf: (row) => row.dataset.docId,
    toggle: (row) => { const id = Number(row.dataset.docId); toggleDoc(id, !st.selected.has(id)); },
    open: openDocRow, edit: editDocRow,
  });
  const onEsc = (e) => {
    if (e.key === 'Escape' && st.selected.size && !document.querySelector('dialog[open]') && !isTypingTarget(e.target)) { st.selected.clear(); syncSelection(); }
  };
  document.addEventListener('keydown', onEsc);
  await loadMore();
  return () => {
    st.alive = false; io.disconnect(); off(); scheduleRefresh.cancel(); keys.stop(); untrackBar();
    document.removeEventListener('keydown', onEsc);
    document.body.classList.remove('has-selection');
  };
}
