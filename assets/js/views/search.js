// Search results with safe highlighted snippets and filters that build the query language.
// A query of filters only takes a sort; "Save as view" keeps the query and the sort. Results can
// be selected (or "Select all N matching") for Edit… (bulk edit) and Tag…, and walked with the
// list keys (↑/↓, x, e, Enter).
import { h, icon, tagChip, snippetNode, plural, put } from '../dom.js';
import { get, session, on, thumbUrl } from '../api.js';
import { href, navigate } from '../router.js';
import { spinner, errorBox, emptyState, setTitle, toast } from '../ui.js';
import { stateBadge, trackSelectionBar, wireRowKeys, openDocRow, editDocRow, isTypingTarget } from '../common.js';
import { docDate } from '../metadata.js';
import { VIEW_SORTS, queryHasWords } from '../savedviews.js';
import { saveAsViewButton } from './viewdialog.js';
import { bulkEditDialog } from './bulkedit.js';
import { bulkTagDialog, bulkTagMessage } from './tagdialog.js';

const PAGE_SIZE = 20;
const FILTER_KEYS = ['tag', 'folder', 'after', 'before'];

/** Split a query into free words and the first tag:/folder:/after:/before: filters. */
export function parseQuery(q) {
  const out = { words: [], tag: '', folder: '', after: '', before: '' };
  const re = /(\w+):"([^"]*)"|(\w+):(\S+)|"[^"]*"|\S+/g;
  let m;
  while ((m = re.exec(q || ''))) {
    const key = (m[1] || m[3] || '').toLowerCase();
    const val = m[2] !== undefined ? m[2] : m[4];
    if (FILTER_KEYS.includes(key) && !out[key]) out[key] = val;
    else out.words.push(m[0]);
  }
  return out;
}
const quote = (v) => (/[\s"]/.test(v) ? `"${v.replace(/"/g, '')}"` : v);
export function buildQuery({ words, tag, folder, after, before }) {
  const parts = [];
  if (words && words.trim()) parts.push(words.trim());
  if (tag) parts.push(`tag:${quote(tag)}`);
  if (folder) parts.push(`folder:${quote(folder)}`);
  if (after) parts.push(`after:${after}`);
  if (before) parts.push(`before:${before}`);
  return parts.join(' ');
}

export async function searchView({ query }) {
  const main = document.getElementById('main');
  const q = (query.get('q') || '').trim();
  const page = Math.max(1, Number(query.get('page')) || 1);
  const words = queryHasWords(q);
  const sort = !words && VIEW_SORTS.some(([v]) => v === query.get('sort')) ? query.get('sort') : '';
  setTitle(q ? `Search: ${q}` : 'Search');
  document.getElementById('search-input').value = q;
  const parsed = parseQuery(q);

  const wordsIn = h('input', { id: 'f-words', type: 'search', value: parsed.words.join(' '), 'data-testid': 'search-words', placeholder: 'Words, "exact phrase", -exclude, prefix*' });
  const tagSel = h('select', { id: 'f-tag', 'data-testid': 'filter-tag' });
  const fillTags = () => {
    const cur = (tagSel.value || parsed.tag || '').toLowerCase();
    const names = session.tags.map((t) => t.name);
    const match = names.find((n) => n.toLowerCase() === cur) || (cur ? (tagSel.value || parsed.tag) : '');
    if (match && !names.includes(match)) names.push(match);
    put(tagSel, h('option', { value: '' }, 'Any tag'), ...names.map((n) => h('option', { value: n }, n)));
    tagSel.value = match;
  };
  fillTags();
  const folderIn = h('input', { id: 'f-folder', value: parsed.folder, 'data-testid': 'filter-folder', placeholder: 'Folder name' });
  const afterIn = h('input', { id: 'f-after', type: 'date', value: parsed.after, 'data-testid': 'filter-after' });
  const beforeIn = h('input', { id: 'f-before', type: 'date', value: parsed.before, 'data-testid': 'filter-before' });
  const field = (id, label, input) => h('div', { class: 'field' }, h('label', { for: id }, label), input);
  const form = h('form', { class: 'filters', 'aria-label': 'Search filters', 'data-testid': 'search-filters' },
    field('f-words', 'Words', wordsIn), field('f-tag', 'Tag', tagSel), field('f-folder', 'Folder', folderIn),
    field('f-after', 'Added after', afterIn), field('f-before', 'Added before', beforeIn),
    h('div', { class: 'filter-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'search-apply' }, icon('search', 16), 'Search'),
      h('button', { type: 'button', class: 'btn', onclick: () => { tagSel.value = ''; folderIn.value = ''; afterIn.value = ''; beforeIn.value = ''; submit(); } }, 'Clear filters')));
  const submit = () => {
    const nq = buildQuery({ words: wordsIn.value, tag: tagSel.value, folder: folderIn.value.trim(), after: afterIn.value, before: beforeIn.value });
    if (nq) navigate('/search', { q: nq, sort: queryHasWords(nq) ? undefined : sort });
  };
  form.addEventListener('submit', (e) => { e.preventDefault(); submit(); });
  tagSel.addEventListener('change', submit);
  afterIn.addEventListener('change', submit);
  beforeIn.addEventListener('change', submit);

  // Sort: for a query of filters only (words rank by relevance).
  const sortSel = h('select', { id: 'search-sort', 'data-testid': 'search-sort', 'aria-label': 'Sort the results', disabled: words,
    title: words ? 'Words rank by relevance: a sort applies to searches with filters only' : 'Sort the results' },
  h('option', { value: '' }, words ? 'Relevance' : 'Newest added'), VIEW_SORTS.filter(([v]) => v !== '-created_at').map(([v, l]) => h('option', { value: v }, l)));
  sortSel.value = sort === '-created_at' ? '' : sort;
  sortSel.addEventListener('change', () => navigate('/search', { q, sort: sortSel.value || undefined }));
  const saveBtn = q ? saveAsViewButton(() => ({ query: q, sort: sort || '-created_at', name: q.length > 60 ? `${q.slice(0, 60)}…` : q }), {
    onSaved: (v) => { toast(`Saved the view “${v.name}”.`); navigate(`/view/${v.id}`); },
  }) : null;

  const results = h('div', { class: 'results-wrap', 'aria-live': 'polite', 'aria-busy': 'true' });
  put(main, h('section', { class: 'search-view', 'aria-labelledby': 'search-title' },
    h('div', { class: 'view-head' }, h('div', { class: 'head-row' },
      h('h1', { class: 'view-title', id: 'search-title' }, icon('search', 22), h('span', null, 'Search')),
      h('div', { class: 'toolbar' }, q ? h('label', { class: 'sort' }, icon('sort', 16), sortSel) : null, saveBtn))),
    form, results));
  const offTags = on('tags', fillTags);

  if (!q) {
    results.setAttribute('aria-busy', 'false');
    put(results, emptyState('search', 'Search your documents', 'Type words in the box above. Press / anywhere to jump to it.'));
    return offTags;
  }
  put(results, spinner('Searching'));
  const t0 = performance.now();
  let r;
  try {
    r = await get('/search', { q, page, page_size: PAGE_SIZE, sort: words ? undefined : (sort || '-created_at') });
  } catch (e) {
    results.setAttribute('aria-busy', 'false');
    put(results, errorBox(e.status === 400 ? new Error(`Cannot understand this search: ${e.message}`) : e));
    if (saveBtn) saveBtn.hidden = true;
    return offTags;
  }
  const ms = Math.round(performance.now() - t0);
  results.setAttribute('aria-busy', 'false');
  if (!r.items.length) {
    put(results, emptyState('search', 'No documents match', `Nothing found for “${q}”. Try fewer words or a prefix like invoi*.`));
    return offTags;
  }
  const pages = Math.max(1, Math.ceil(r.total / PAGE_SIZE));
  // ---- selection ----
  const sel = { ids: new Set(), all: false };
  const selCount = h('span', { class: 'sel-count', 'aria-live': 'polite', 'data-testid': 'selection-count' });
  const allBtn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'select-all-matching', onclick: () => { sel.all = true; r.items.forEach((it) => sel.ids.add(it.document.id)); syncSel(); } });
  const tagBtn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'tag-selected', onclick: () => tagSelected() }, icon('tag', 16), 'Tag…');
  const selBar = h('div', { class: 'selection-bar', 'data-testid': 'selection-bar', hidden: true },
    selCount, allBtn,
    h('button', { type: 'button', class: 'btn btn-small btn-primary', 'data-testid': 'edit-selected', onclick: () => editSelected() }, icon('edit', 16), 'Edit…'),
    tagBtn, h('span', { class: 'spacer' }),
    h('button', { type: 'button', class: 'btn btn-small', onclick: () => clearSel() }, 'Clear selection'));
  const untrackBar = trackSelectionBar(selBar);
  const docsOnPage = () => { const seen = new Set(); return r.items.map((it) => it.document).filter((d) => !seen.has(d.id) && seen.add(d.id)); };
  function clearSel() { sel.ids.clear(); sel.all = false; syncSel(); }
  function toggleDoc(id, value) { sel.all = false; if (value) sel.ids.add(id); else sel.ids.delete(id); syncSel(); }
  function syncSel() {
    if (!sel.ids.size) sel.all = false;
    list.querySelectorAll('[data-testid="search-result"]').forEach((li) => {
      const on = sel.ids.has(Number(li.dataset.docId));
      li.classList.toggle('selected', on);
      li.setAttribute('aria-selected', String(on));
      li.querySelector('.row-check').checked = on;
    });
    const n = sel.ids.size;
    selBar.hidden = !n;
    document.body.classList.toggle('has-selection', n > 0);
    selCount.textContent = sel.all ? `All ${plural(r.total, 'matching document', 'matching documents')} selected` : `${plural(n, 'document', 'documents')} selected`;
    allBtn.textContent = r.count_capped ? `Select all matching (more than ${r.total.toLocaleString()})` : `Select all ${r.total.toLocaleString()} matching`;
    allBtn.hidden = sel.all;
    tagBtn.hidden = sel.all;
  }
  async function editSelected() {
    const target = sel.all ? { query: q, count: r.total, capped: !!r.count_capped } : { documents: [...sel.ids], count: sel.ids.size };
    if (!target.count) return;
    const res = await bulkEditDialog(target);
    if (res) navigate('/search', { q, sort: sort || undefined, page: page > 1 ? page : undefined });
  }
  async function tagSelected() {
    const docs = docsOnPage().filter((d) => sel.ids.has(d.id));
    if (!docs.length) return;
    const res = await bulkTagDialog(docs);
    if (!res) return;
    toast(bulkTagMessage(res));
    navigate('/search', { q, sort: sort || undefined, page: page > 1 ? page : undefined });
  }

  const list = h('ol', { class: 'results', start: (page - 1) * PAGE_SIZE + 1, 'data-testid': 'search-results', 'aria-multiselectable': 'true' }, r.items.map((it) => {
    const d = it.document;
    const pn = it.page_number;
    const link = href(`/doc/${d.id}`, pn && pn > 1 ? { page: pn } : null);
    const thumb = d.state === 'ready' && (d.page_count || 0) > 0
      ? h('a', { class: 'result-thumb', href: link, tabindex: '-1', 'aria-hidden': 'true' }, h('img', { src: thumbUrl(d.id, pn || 1), alt: '', loading: 'lazy', decoding: 'async' }))
      : h('span', { class: 'result-thumb thumb-doc' }, icon('doc', 22));
    const check = h('input', { type: 'checkbox', class: 'row-check', 'aria-label': `Select ${d.title}`, 'data-testid': 'row-check' });
    check.addEventListener('click', (e) => { e.stopPropagation(); toggleDoc(d.id, check.checked); });
    const li = h('li', { class: 'result', 'data-testid': 'search-result', 'data-doc-id': d.id, 'data-page': pn || '', 'aria-selected': 'false' },
      h('span', { class: 'c-check result-check' }, check),
      thumb,
      h('div', { class: 'result-main' },
        h('div', { class: 'result-line' },
          h('a', { class: 'result-title', href: link, 'data-testid': 'result-link' }, d.title),
          pn ? h('span', { class: 'page-pill', 'data-testid': 'result-page' }, `Page ${pn}`) : null,
          d.state !== 'ready' ? stateBadge(d) : null),
        it.snippet ? snippetNode(it.snippet, { 'data-testid': 'snippet' }) : null,
        h('div', { class: 'result-meta muted small' },
          h('span', { title: docDate(d).title }, docDate(d).text),
          d.correspondent ? h('span', { class: 'row-corr', title: `Correspondent: ${d.correspondent.name}`, 'data-testid': 'row-correspondent' }, `· ${d.correspondent.name}`) : null,
          (d.tags || []).map((t) => tagChip(t)))));
    li.addEventListener('click', (e) => { if (!e.target.closest('a, button, input')) toggleDoc(d.id, !sel.ids.has(d.id)); });
    return li;
  }));
  const pager = pages > 1 ? h('nav', { class: 'pager', 'aria-label': 'Result pages' },
    h('a', { class: 'btn', href: href('/search', { q, sort: sort || undefined, page: page - 1 }), 'aria-disabled': String(page <= 1), tabindex: page <= 1 ? '-1' : null }, icon('chevronLeft', 16), 'Previous'),
    h('span', { class: 'muted' }, `Page ${page} of ${pages}`),
    h('a', { class: 'btn', href: href('/search', { q, sort: sort || undefined, page: page + 1 }), 'aria-disabled': String(page >= pages), tabindex: page >= pages ? '-1' : null }, 'Next', icon('chevronRight', 16))) : null;
  put(results, 
    h('p', { class: 'muted small result-count', 'data-testid': 'result-count' }, `${r.count_capped ? `More than ${r.total.toLocaleString()} results` : plural(r.total, 'result', 'results')} · ${ms} ms`),
    r.truncated
      ? h('p', { class: 'muted small', 'data-testid': 'result-truncated' }, r.count_capped
        ? `More than ${r.total.toLocaleString()} documents match: counting (and paging) stops there. Add filters to narrow them down.`
        : 'These words are on more than 1,000 pages: the newest matches are shown, newest first. Add words or filters to rank by relevance.')
      : null,
    ...[list, pager].filter(Boolean),
    selBar);
  syncSel();

  const keys = wireRowKeys({
    rows: () => [...list.querySelectorAll('[data-testid="search-result"]')],
    keyOf: (li) => `${li.dataset.docId}:${li.dataset.page}`,
    toggle: (li) => { const id = Number(li.dataset.docId); toggleDoc(id, !sel.ids.has(id)); },
    open: openDocRow, edit: editDocRow,
  });
  const onEsc = (e) => {
    if (e.key === 'Escape' && sel.ids.size && !document.querySelector('dialog[open]') && !isTypingTarget(e.target)) clearSel();
  };
  document.addEventListener('keydown', onEsc);
  return () => {
    offTags(); keys.stop(); untrackBar();
    document.removeEventListener('keydown', onEsc);
    document.body.classList.remove('has-selection');
  };
}
