// Saved views (#22): the session's list (for the sidebar and the dashboard), what a view can
// sort by and show, and the search language pieces the UI writes (a filter's name quoted when
// it has to be, the filtered documents list as a query).
import { get, emit, session } from './api.js';
import { href } from './router.js';

export const VIEW_SORTS = [
  ['-created_at', 'Added, newest first'], ['created_at', 'Added, oldest first'],
  ['-date', 'Date, newest first'], ['date', 'Date, oldest first'],
  ['title', 'Title A–Z'], ['-title', 'Title Z–A'],
  ['asn', 'ASN, lowest first'], ['-asn', 'ASN, highest first'],
];
export const sortLabel = (s) => (VIEW_SORTS.find(([v]) => v === s) || [s, s])[1];

/** The columns a view can show, besides custom fields (`field:<id>`). */
export const BASE_COLUMNS = [
  ['title', 'Title'], ['date', 'Date'], ['added', 'Added'], ['correspondent', 'Correspondent'],
  ['type', 'Type'], ['tags', 'Tags'], ['asn', 'ASN'], ['pages', 'Pages'], ['folder', 'Folder'],
  ['state', 'Status'], ['notes', 'Notes'],
];
export const DEFAULT_COLUMNS = ['title', 'date', 'correspondent', 'tags'];

/** Every column a view can have now: the built-in ones, then one per custom field. */
export function allColumns() {
  return [...BASE_COLUMNS, ...session.fields.map((f) => [`field:${f.id}`, f.name])];
}
export function columnLabel(col) {
  const base = BASE_COLUMNS.find(([v]) => v === col);
  if (base) return base[1];
  const m = /^field:(\d+)$/.exec(col);
  if (m) {
    const f = session.fields.find((x) => x.id === Number(m[1]));
    return f ? f.name : 'Deleted field';
  }
  return col;
}

const byPosition = (a, b) => (a.position ?? 0) - (b.position ?? 0) || a.name.localeCompare(b.name, undefined, { sensitivity: 'base' });

export async function loadViews() {
  const r = await get('/views');
  session.views = (r.items || []).slice().sort(byPosition);
  emit('views', session.views);
  return session.views;
}

export const viewHref = (id) => href(`/view/${id}`);

/** A name or value in the search language: bare when it is one plain word, quoted otherwise. */
export function quoteTerm(v) {
  const s = String(v ?? '').replace(/"/g, '');
  return /^[\p{L}\p{N}_.@-]+$/u.test(s) ? s : `"${s}"`;
}

/**
 * The tokens of a query: words, "phrases", -exclusions and filters (`key:value`, `key>value`,
 * `"due date"<2026-01-01`). Enough to tell whether a query has words to rank by.
 */
export function queryTokens(q) {
  const re = /-?(?:"[^"]*"(?:(?::|<=|>=|<|>)(?:"[^"]*"|[^\s"]*))?|[^\s"]+(?:"[^"]*")?)/g;
  const out = [];
  for (const m of String(q || '').matchAll(re)) {
    const t = m[0];
    const bare = t.replace(/^-/, '');
    const filter = /^(?:"[^"]*"|[^\s:<>"]+)(?::|<=|>=|<|>)./.test(bare);
    out.push({ text: t, kind: filter ? 'filter' : t.startsWith('-') ? 'exclude' : 'word' });
  }
  return out;
}
/** A sort applies only to a query without words (only filters): words rank by relevance. */
export const queryHasWords = (q) => queryTokens(q).some((t) => t.kind === 'word');

/**
 * The filtered documents list (`#/documents?correspondent=3&date_from=…`) as a query of the
 * search language, with its sort. Labels go by name (the language has no ids).
 */
export function documentsFiltersToQuery(f, { labelName }) {
  const parts = [];
  if (f.correspondent === 'none') parts.push('no:correspondent');
  else if (f.correspondent) parts.push(`correspondent:${quoteTerm(labelName('correspondents', f.correspondent))}`);
  if (f.document_type === 'none') parts.push('no:type');
  else if (f.document_type) parts.push(`type:${quoteTerm(labelName('document-types', f.document_type))}`);
  if (f.asn) parts.push(`asn:${f.asn}`);
  if (f.date_from) parts.push(`created>=${f.date_from}`);
  if (f.date_to) parts.push(`created<=${f.date_to}`);
  return parts.join(' ');
}

/**
 * The query a bulk edit over "everything a view shows" sends. A view with an empty query shows
 * every document, but the bulk edit wants a query: every document was added after 1970.
 */
export const EVERYTHING = 'added>=1970-01-01';
export const bulkQuery = (q) => (String(q || '').trim() ? String(q).trim() : EVERYTHING);
