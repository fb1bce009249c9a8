// Correspondents, document types and custom fields: the session's copies of the lists, and how
// their values read on screen (lists, the document view, its history).
import { h, icon, safeColor, textOn, fmtDay, fmtDate } from './dom.js';
import { get, emit, session } from './api.js';
import { href } from './router.js';

/** The two kinds of label a document can have one of. */
export const LABELS = {
  correspondents: {
    key: 'correspondents', path: '/correspondents', api: '/correspondents', filter: 'correspondent', patchKey: 'correspondent_id', docKey: 'correspondent',
    one: 'correspondent', many: 'correspondents', title: 'Correspondents', One: 'Correspondent', icon: 'contact',
    example: 'e.g. City Water Works', testid: 'correspondent',
  },
  'document-types': {
    key: 'document-types', path: '/document-types', api: '/document-types', filter: 'document_type', patchKey: 'document_type_id', docKey: 'document_type',
    one: 'document type', many: 'document types', title: 'Document types', One: 'Type', icon: 'fileType',
    example: 'e.g. Invoice', testid: 'doctype',
  },
};

export const PALETTE = ['#4f7df0', '#2fa37a', '#e0a526', '#e05a4f', '#9b5de5', '#00a6c4', '#f07fb6', '#6b7a90'];

/** Field kinds as the API names them, with the words people read. */
export const FIELD_KINDS = [
  ['text', 'Text'], ['long_text', 'Long text'], ['integer', 'Whole number'], ['number', 'Number'],
  ['monetary', 'Amount (money)'], ['date', 'Date'], ['boolean', 'Yes/No'], ['url', 'Link (URL)'],
  ['select', 'Choice'], ['document_link', 'Documents (link)'],
];
export const kindLabel = (k) => (FIELD_KINDS.find(([v]) => v === k) || [k, k])[1];

const byName = (a, b) => a.name.localeCompare(b.name, undefined, { sensitivity: 'base' });

export async function loadLabels(key) {
  const r = await get(LABELS[key].api);
  session.labels[key] = (r.items || []).slice().sort(byName);
  emit('labels', key);
  return session.labels[key];
}
export async function loadFields() {
  const r = await get('/custom-fields');
  session.fields = (r.items || []).slice().sort(byName);
  emit('fields', session.fields);
  return session.fields;
}
export async function loadPathTemplates() {
  const r = await get('/path-templates');
  session.pathTemplates = r.items || [];
  emit('path-templates', session.pathTemplates);
  return session.pathTemplates;
}
/** Whether a language model is configured (#23), asked once per page load. */
let llmStatus = null;
export function loadLlm() {
  if (!llmStatus) llmStatus = get('/llm').then((r) => { session.llm = r; return r; }).catch((e) => { llmStatus = null; throw e; });
  return llmStatus;
}
/** All four lists; a failure of one leaves the others. */
export function loadMetadata() {
  return Promise.allSettled([loadLabels('correspondents'), loadLabels('document-types'), loadFields(), loadPathTemplates()]);
}

export const fieldDef = (id) => session.fields.find((f) => f.id === id) || null;
export const labelById = (key, id) => session.labels[key].find((l) => l.id === id) || null;

/** A correspondent or type as a chip: its colour when it has one, plain otherwise. */
export function labelChip(l, attrs = {}) {
  if (!l) return null;
  if (l.color && /^#[0-9a-f]{6}$/i.test(l.color)) {
    const c = safeColor(l.color);
    return h('span', { class: 'tag label-chip', style: { background: c, color: textOn(c) }, title: l.name, ...attrs }, l.name);
  }
  return h('span', { class: 'tag label-chip plain', title: l.name, ...attrs }, l.name);
}

/** The list of documents with this correspondent / type (`#/documents?correspondent=3`). */
export const labelHref = (key, id) => href('/documents', { [LABELS[key].filter]: id });

/** "123.40 EUR": the amount as stored (2 decimals at least) and the currency code. */
export function moneyText(v) {
  if (!v || typeof v !== 'object') return v == null ? '' : String(v);
  return [v.amount, v.currency].filter((x) => x != null && x !== '').join(' ');
}

/**
 * A field value in words. `kind` may be missing (history entries only name the field): then it
 * is guessed from the value's shape, and a select option id is looked up by the field's name.
 */
export function fieldText(value, kind, def = null) {
  if (value == null || value === '') return '';
  if (!kind && def) kind = def.kind;
  if (!kind) {
    if (typeof value === 'object' && !Array.isArray(value) && 'amount' in value) kind = 'monetary';
    else if (typeof value === 'boolean') kind = 'boolean';
    else if (Array.isArray(value)) kind = 'document_link';
    else if (typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value)) kind = 'date';
  }
  switch (kind) {
    case 'monetary': return moneyText(value);
    case 'boolean': return value ? 'Yes' : 'No';
    case 'date': return fmtDay(value) || String(value);
    case 'select': {
      const o = def && (def.options || []).find((x) => x.id === value);
      return o ? o.label : String(value);
    }
    case 'document_link': {
      const ids = Array.isArray(value) ? value : [value];
      return ids.map((x) => `#${x}`).join(', ');
    }
    case 'number': case 'integer': return typeof value === 'number' ? value.toLocaleString(undefined, { maximumFractionDigits: 10 }) : String(value);
    default: return typeof value === 'object' ? JSON.stringify(value) : String(value);
  }
}

/** The date a list shows for a document: when it was written, else when it was added. */
export function docDate(d) {
  if (d.date) return { text: fmtDay(d.date), title: `Dated ${fmtDay(d.date, { long: true })}`, written: true };
  return { text: fmtDate(d.created_at), title: `Added ${fmtDate(d.created_at)} (no document date)`, written: false };
}

/** "found in the text (rule: iso)" for a date the processing read from the document. */
export function dateSourceText(source) {
  if (typeof source !== 'string' || !source.startsWith('extracted:')) return '';
  const rule = source.slice('extracted:'.length);
  return rule ? `found in the text (rule: ${rule})` : 'found in the text';
}

/**
 * What a row of a document list adds under the title: the correspondent, and the date (shown
 * there only at narrow widths, where the date column is hidden).
 */
export function rowMeta(d) {
  const dd = docDate(d);
  return [
    h('span', { class: `row-date-sm${dd.written ? ' written' : ''}`, title: dd.title }, dd.text),
    d.correspondent ? h('span', { class: 'row-corr', title: `Correspondent: ${d.correspondent.name}`, 'data-testid': 'row-correspondent' }, icon('contact', 12), h('span', null, d.correspondent.name)) : null,
  ];
}

/** The date column of a document list. */
export function dateCell(d) {
  const dd = docDate(d);
  return h('span', { class: `c-date muted${dd.written ? ' written' : ''}`, title: dd.title, 'data-testid': 'row-date' }, dd.text);
}
