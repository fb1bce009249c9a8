// The document view's metadata panel: correspondent, type, date, ASN and custom fields.
// Read as a list; "Edit" turns it into a form saved with one PATCH (all or nothing). A message
// from the server that names a field ("field "Amount": …") is shown next to that field.
import { h, icon, iconButton, put, debounce, fmtDay } from '../dom.js';
import { get, post, patch, emit, on, session } from '../api.js';
import { href } from '../router.js';
import { toast, toastError } from '../ui.js';
import { LABELS, PALETTE, loadLabels, loadFields, fieldDef, labelChip, labelHref, fieldText, dateSourceText, kindLabel } from '../metadata.js';

/** Titles of documents a Documents (link) field points at, fetched once each. */
const titles = new Map();
function docTitle(id) {
  if (titles.has(id)) return titles.get(id);
  const p = get(`/documents/${id}`).then((d) => d.title).catch(() => null);
  titles.set(id, p);
  return p;
}

/** A link to a linked document, its title filled in when known. */
function docLink(id, attrs = {}) {
  const a = h('a', { href: href(`/doc/${id}`), class: 'doc-ref', ...attrs }, `#${id}`);
  docTitle(id).then((t) => { if (t) { a.textContent = t; a.title = `Document #${id}`; } else a.title = 'Not found (deleted?)'; });
  return a;
}

const SAFE_URL = /^(https?:\/\/|mailto:|ftp:\/\/)/i;

/** A field's value on screen (read mode; also the custom field columns of a saved view). */
export function valueNode(f) {
  const def = fieldDef(f.field_id);
  if (f.value == null || (Array.isArray(f.value) && !f.value.length)) return h('span', { class: 'muted' }, 'empty');
  const kind = f.kind || (def && def.kind);
  if (kind === 'url' && typeof f.value === 'string' && SAFE_URL.test(f.value)) {
    return h('a', { href: f.value, target: '_blank', rel: 'noopener noreferrer', class: 'meta-url' }, f.value);
  }
  if (kind === 'document_link') {
    const ids = Array.isArray(f.value) ? f.value : [f.value];
    return h('span', { class: 'doc-refs' }, ids.map((x) => docLink(x)));
  }
  if (kind === 'long_text') return h('span', { class: 'meta-long' }, String(f.value));
  return h('span', null, fieldText(f.value, kind, def));
}

/**
 * A Documents (link) field's editor: the linked documents as removable chips, and a box that
 * finds more by title words (the search) or by number (#12).
 */
function docLinkControl(id, initial, selfId, label) {
  const ids = [...(Array.isArray(initial) ? initial : initial != null ? [initial] : [])];
  const chips = h('span', { class: 'doc-refs editing', 'data-testid': 'link-chips' });
  const input = h('input', { id, type: 'search', placeholder: 'Find by title, or #12', autocomplete: 'off', 'data-testid': 'link-search', 'aria-autocomplete': 'list', 'aria-controls': `${id}-list`, 'aria-expanded': 'false' });
  const list = h('ul', { class: 'suggest', id: `${id}-list`, role: 'listbox', 'aria-label': `Documents to link in ${label}`, hidden: true });
  const wrap = h('div', { class: 'link-control' }, chips, h('div', { class: 'suggest-wrap' }, input, list));
  let found = [];
  const changed = () => wrap.dispatchEvent(new Event('input', { bubbles: true }));
  function renderChips() {
    put(chips, ids.map((x) => h('span', { class: 'doc-chip', 'data-testid': 'link-chip', dataset: { docId: x } }, docLink(x),
      h('button', { type: 'button', class: 'tag-x', 'aria-label': `Unlink document ${x}`, title: 'Unlink', onclick: () => { ids.splice(ids.indexOf(x), 1); renderChips(); changed(); input.focus(); } }, icon('close', 12)))));
  }
  function show(items) {
    found = items.filter((d) => d.id !== selfId && !ids.includes(d.id)).slice(0, 8);
    put(list, found.length ? found.map((d, i) => h('li', { role: 'option', id: `${id}-o${i}` },
      h('button', { type: 'button', class: 'suggest-item', 'data-testid': 'link-suggestion', dataset: { docId: d.id }, tabindex: '-1', onclick: () => pick(d) },
        h('span', { class: 'suggest-title' }, d.title), h('span', { class: 'muted small' }, `#${d.id}`)))) : h('li', { class: 'muted small suggest-empty' }, 'No document found'));
    list.hidden = false;
    input.setAttribute('aria-expanded', 'true');
  }
  function hide() { list.hidden = true; input.setAttribute('aria-expanded', 'false'); }
  function pick(d) {
    if (!ids.includes(d.id)) ids.push(d.id);
    titles.set(d.id, Promise.resolve(d.title));
    input.value = '';
    hide(); renderChips(); changed(); input.focus();
  }
  const lookup = debounce(async () => {
    const v = input.value.trim();
    if (!v) { hide(); return; }
    try {
      const num = /^#?(\d+)$/.exec(v);
      if (num) {
        const d = await get(`/documents/${num[1]}`).catch(() => null);
        show(d ? [d] : []);
        return;
      }
      if (v.length < 2) return;
      const q = v.split(/\s+/).filter(Boolean).map((w) => `${w.replace(/[^\p{L}\p{N}]/gu, '')}*`).filter((w) => w.length > 1).join(' ');
      if (!q) return;
      const r = await get('/search', { q, page_size: 20 });
      const seen = new Set();
      show((r.items || []).map((it) => it.document).filter((d) => d && !seen.has(d.id) && seen.add(d.id)));
    } catch { hide(); }
  }, 250);
  input.addEventListener('input', (e) => { e.stopPropagation(); lookup(); });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.ctrlKey && !e.metaKey) { e.preventDefault(); if (found.length && !list.hidden) pick(found[0]); }
    else if (e.key === 'ArrowDown' && !list.hidden) { e.preventDefault(); const b = list.querySelector('button'); if (b) b.focus(); }
    else if (e.key === 'Escape' && !list.hidden) { e.preventDefault(); e.stopPropagation(); hide(); }
  });
  list.addEventListener('keydown', (e) => {
    const items = [...list.querySelectorAll('button')];
    const i = items.indexOf(document.activeElement);
    if (e.key === 'ArrowDown') { e.preventDefault(); (items[i + 1] || items[i]).focus(); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); if (i <= 0) input.focus(); else items[i - 1].focus(); }
    else if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); hide(); input.focus(); }
  });
  wrap.addEventListener('focusout', () => setTimeout(() => { if (!wrap.contains(document.activeElement)) hide(); }, 0));
  renderChips();
  return { el: wrap, focus: input, read: () => (ids.length ? [...ids] : null) };
}

/** The input for one custom field, by kind (also the bulk edit's). Returns {el, focus, read()}. */
export function fieldControl(f, def, selfId) {
  const id = `mf-${f.field_id}`;
  const v = f.value;
  const kind = f.kind || (def && def.kind) || 'text';
  const common = { id, 'data-testid': 'field-input', 'aria-describedby': `${id}-err` };
  const text = (x) => (x == null ? '' : String(x));
  switch (kind) {
    case 'long_text': {
      const t = h('textarea', { ...common, rows: 3, maxlength: 20000, value: text(v) });
      return { el: t, focus: t, read: () => (t.value.trim() ? t.value : null) };
    }
    case 'integer': case 'number': {
      const i = h('input', { ...common, inputmode: kind === 'integer' ? 'numeric' : 'decimal', autocomplete: 'off', value: text(v), placeholder: kind === 'integer' ? '0' : '0.0' });
      return { el: i, focus: i, read: () => (i.value.trim() ? i.value.trim() : null) };
    }
    case 'monetary': {
      const amount = h('input', { ...common, inputmode: 'decimal', autocomplete: 'off', placeholder: '0.00', value: v && typeof v === 'object' ? text(v.amount) : text(v), 'data-testid': 'field-amount', class: 'amount-input' });
      const cur = h('input', { id: `${id}-cur`, maxlength: 3, size: 4, autocomplete: 'off', spellcheck: 'false', autocapitalize: 'characters', class: 'currency-input', 'data-testid': 'field-currency',
        'aria-label': `Currency of ${f.name}`, placeholder: (def && def.currency) || 'EUR', value: (v && typeof v === 'object' && v.currency) || (def && def.currency) || '' });
      cur.addEventListener('input', () => { cur.value = cur.value.toUpperCase(); });
      return {
        el: h('div', { class: 'money-control' }, amount, cur), focus: amount,
        read: () => {
          const a = amount.value.trim();
          if (!a) return null;
          const c = cur.value.trim().toUpperCase();
          return c ? { amount: a, currency: c } : a;
        },
      };
    }
    case 'date': {
      const i = h('input', { ...common, type: 'date', value: text(v) });
      return { el: i, focus: i, read: () => i.value || null };
    }
    case 'boolean': {
      // A switch cannot show "not set": untouched, an empty value stays empty.
      let touched = false;
      const c = h('input', { ...common, type: 'checkbox', role: 'switch', checked: v === true, class: 'switch' });
      const state = h('span', { class: 'switch-text muted small', 'aria-hidden': 'true' });
      const sync = () => { state.textContent = !touched && v == null ? 'Not set' : c.checked ? 'Yes' : 'No'; };
      c.addEventListener('change', () => { touched = true; sync(); });
      sync();
      return { el: h('span', { class: 'switch-wrap' }, c, state), focus: c, read: () => (!touched && v == null ? null : c.checked) };
    }
    case 'url': {
      const i = h('input', { ...common, type: 'url', inputmode: 'url', autocomplete: 'off', placeholder: 'example.org/…', value: text(v) });
      return { el: i, focus: i, read: () => (i.value.trim() ? i.value.trim() : null) };
    }
    case 'select': {
      const opts = (def && def.options) || [];
      const s = h('select', common, h('option', { value: '' }, '—'), opts.map((o) => h('option', { value: o.id, selected: o.id === v }, o.label)));
      if (v != null && !opts.some((o) => o.id === v)) s.append(h('option', { value: v, selected: true }, String(v)));
      return { el: s, focus: s, read: () => s.value || null };
    }
    case 'document_link': return docLinkControl(id, v, selfId, f.name);
    default: {
      const i = h('input', { ...common, autocomplete: 'off', maxlength: 500, value: text(v) });
      return { el: i, focus: i, read: () => (i.value.trim() ? i.value : null) };
    }
  }
}

/**
 * The panel. getDoc() is the document on screen; setDoc(d) replaces it after a save.
 * Returns {el, render(), editing(), cleanup()}.
 */
export function metadataPanel({ docId, getDoc, setDoc }) {
  const el = h('section', { class: 'side-sec meta-sec', 'data-testid': 'meta-panel', 'aria-labelledby': 'meta-h' });
  let mode = 'read';
  let form = null; // the open form: {node, startedAt, notice, save, cancel}

  function render() {
    const d = getDoc();
    if (!d) return;
    if (mode === 'edit' && form) {
      // The form keeps what is typed; say when the document changed meanwhile.
      if (d.updated_at !== form.startedAt) form.notice.hidden = false;
      return;
    }
    renderRead(d);
  }

  function head(...extra) {
    return h('div', { class: 'sec-head' }, h('h2', { id: 'meta-h' }, 'Metadata'), ...extra);
  }

  function renderRead(d) {
    const editable = !d.trashed_at;
    const row = (k, testid, val, extra) => [h('dt', null, k), h('dd', { 'data-testid': testid }, val, extra || null)];
    const none = (t) => h('span', { class: 'muted' }, t);
    const src = d.date ? dateSourceText(d.date_source) : '';
    const fields = d.fields || [];
    const labelLink = (key) => {
      const l = d[LABELS[key].docKey];
      return l ? h('a', { href: labelHref(key, l.id), class: 'chip-link', title: `All documents with ${LABELS[key].one} ${l.name}` }, labelChip(l)) : none('None');
    };
    put(el,
      head(editable ? h('span', { class: 'sec-actions' }, h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'meta-match', title: 'Run your matching rules over this document now', onclick: (e) => runRules(e.currentTarget) }, icon('rules', 14), 'Run rules'),
        h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'meta-edit', onclick: () => startEdit() }, icon('edit', 14), 'Edit')) : null),
      h('dl', { class: 'details meta-read', 'data-testid': 'meta-read' },
        row('Correspondent', 'meta-correspondent', labelLink('correspondents')),
        row('Type', 'meta-doctype', labelLink('document-types')),
        row('Date', 'meta-date', d.date ? h('span', { title: d.date }, fmtDay(d.date, { long: true })) : none('Not set'),
          src ? h('span', { class: 'date-hint', 'data-testid': 'meta-date-source' }, icon('search', 12), src) : null),
        row('ASN', 'meta-asn', d.asn != null ? h('span', { class: 'mono' }, String(d.asn)) : none('None')),
        row('Path template', 'meta-path-template', d.path_template
          ? h('a', { href: '#/path-templates', class: 'chip-link', title: 'Files this document into folders by its metadata' }, icon('folderTree', 14), ' ', d.path_template.name)
          : none('None')),
        fields.map((f) => [h('dt', { title: kindLabel(f.kind) }, f.name), h('dd', { 'data-testid': 'meta-field', dataset: { fieldId: f.field_id, fieldName: f.name } }, valueNode(f))])),
      !fields.length && editable ? h('p', { class: 'muted small meta-foot' }, 'No custom fields. Edit to add one.') : null);
  }

  // The owner's matching rules over this document now (what they set shows in the history).
  async function runRules(btn) {
    btn.disabled = true;
    try {
      const r = await post(`/documents/${docId}/match`, {});
      const set = (r.assigned || []).map((a) => `${a.kind === 'document_type' ? 'type' : a.kind} “${a.target_name}”`);
      toast(set.length ? `The rules set ${set.join(', ')}.` : 'No rule changed anything.');
      if (set.length) setDoc(await get(`/documents/${docId}`));
    } catch (ex) { toastError(ex); } finally { btn.disabled = false; }
  }

  // ---- editing ----
  function startEdit(focusKey) {
    const d = getDoc();
    if (!d || d.trashed_at) return;
    mode = 'edit';
    buildForm(d);
    const f = focusKey ? el.querySelector(`[data-key="${focusKey}"] input, [data-key="${focusKey}"] select`) : el.querySelector('select, input');
    if (f) f.focus();
  }

  function buildForm(d) {
    const errors = new Map(); // key → <p>
    const errEl = (key, id) => { const p = h('p', { class: 'field-error', id, role: 'alert', 'data-testid': `meta-error-${key}` }); errors.set(key, p); return p; };
    const summary = h('p', { class: 'field-error meta-summary', role: 'alert', 'data-testid': 'meta-error' });
    const notice = h('p', { class: 'meta-notice small', hidden: true, 'data-testid': 'meta-changed-elsewhere' }, icon('alert', 14),
      'This document was changed meanwhile. Save sends only what you changed here; Cancel shows the new values.');

    // correspondent and type: a select that can also create a new one in place
    function labelRow(key) {
      const K = LABELS[key];
      const id = `meta-${K.testid}`;
      const cur = d[K.docKey];
      const sel = h('select', { id, 'data-testid': `meta-${K.testid}-select`, 'aria-describedby': `${id}-err` });
      const fill = (value) => {
        const items = session.labels[key];
        put(sel, h('option', { value: '' }, 'None'), items.map((l) => h('option', { value: String(l.id) }, l.name)),
          cur && !items.some((l) => l.id === cur.id) ? h('option', { value: String(cur.id) }, cur.name) : null,
          h('option', { value: '__new' }, `New ${K.one}…`));
        sel.value = value;
      };
      fill(cur ? String(cur.id) : '');
      let last = sel.value;
      const nameIn = h('input', { id: `${id}-new`, maxlength: 128, autocomplete: 'off', placeholder: `Name of the new ${K.one}`, 'data-testid': `meta-new-${K.testid}-name` });
      const createBtn = h('button', { type: 'button', class: 'btn btn-small btn-primary', 'data-testid': `meta-new-${K.testid}-create` }, 'Create');
      const cancelBtn = h('button', { type: 'button', class: 'btn btn-small' }, 'Cancel');
      const creator = h('div', { class: 'inline-create', hidden: true, role: 'group', 'aria-label': `New ${K.one}` }, nameIn, createBtn, cancelBtn);
      const closeCreator = (value) => { creator.hidden = true; nameIn.value = ''; sel.value = value; last = value; sel.focus(); changed(); };
      sel.addEventListener('change', () => {
        if (sel.value === '__new') { creator.hidden = false; nameIn.focus(); return; }
        last = sel.value;
        if (key === 'document-types') addTypeFields(sel.value);
      });
      async function create() {
        const name = nameIn.value.trim();
        const p = errors.get(key);
        if (!name) { p.textContent = 'Enter a name.'; nameIn.focus(); return; }
        const existing = session.labels[key].find((l) => l.name.toLowerCase() === name.toLowerCase());
        createBtn.disabled = true;
        try {
          const l = existing || await post(K.api, { name, color: PALETTE[session.labels[key].length % PALETTE.length] });
          await loadLabels(key).catch(() => { session.labels[key] = [...session.labels[key], l]; });
          p.textContent = '';
          fill(String(l.id));
          if (!existing) toast(`Created ${K.one} “${l.name}”.`);
          closeCreator(String(l.id));
          if (key === 'document-types') addTypeFields(String(l.id));
        } catch (e) { p.textContent = e.message; nameIn.focus(); } finally { createBtn.disabled = false; }
      }
      createBtn.addEventListener('click', create);
      cancelBtn.addEventListener('click', () => closeCreator(last));
      nameIn.addEventListener('keydown', (e) => {
        if (e.key === 'Enter' && !e.ctrlKey && !e.metaKey) { e.preventDefault(); create(); }
        else if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); closeCreator(last); }
      });
      const rowEl = h('div', { class: 'meta-row', dataset: { key } }, h('label', { for: id }, K.One), sel, creator, errEl(key, `${id}-err`));
      return { el: rowEl, read: () => (sel.value && sel.value !== '__new' ? Number(sel.value) : (sel.value === '__new' ? (last ? Number(last) : null) : null)) };
    }
    const corr = labelRow('correspondents');
    const type = labelRow('document-types');

    // path template
    const ptSel = h('select', { id: 'meta-path-template', 'data-testid': 'meta-path-template-select', 'aria-describedby': 'meta-path-template-err meta-path-template-hint' });
    const curPt = d.path_template;
    put(ptSel, h('option', { value: '' }, 'None'), (session.pathTemplates || []).map((t) => h('option', { value: String(t.id) }, t.name)),
      curPt && !(session.pathTemplates || []).some((t) => t.id === curPt.id) ? h('option', { value: String(curPt.id) }, curPt.name) : null);
    ptSel.value = curPt ? String(curPt.id) : '';
    const ptRead = () => (ptSel.value ? Number(ptSel.value) : null);
    const ptHint = h('p', { class: 'muted small', id: 'meta-path-template-hint' }, 'Files the document into folders by its metadata; ', h('a', { href: '#/path-templates' }, 'manage templates'), '.');

    // date
    const dateIn = h('input', { id: 'meta-date', type: 'date', value: d.date || '', 'data-testid': 'meta-date-input', 'aria-describedby': 'meta-date-err meta-date-hint' });
    const src = d.date ? dateSourceText(d.date_source) : '';
    const dateHint = h('p', { class: 'date-hint', id: 'meta-date-hint', 'data-testid': 'meta-date-source', hidden: !src }, icon('search', 12), src);
    dateIn.addEventListener('input', () => { dateHint.hidden = !src || dateIn.value !== d.date; });

    // ASN
    const asnIn = h('input', { id: 'meta-asn', type: 'number', min: '0', step: '1', inputmode: 'numeric', value: d.asn != null ? String(d.asn) : '', 'data-testid': 'meta-asn-input', 'aria-describedby': 'meta-asn-err', class: 'asn-input' });
    const nextBtn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'meta-asn-next', title: 'One more than the highest ASN in use' }, 'Next free');
    nextBtn.addEventListener('click', async () => {
      nextBtn.disabled = true;
      try {
        const r = await get('/documents/next-asn');
        asnIn.value = String(r.asn);
        errors.get('asn').textContent = '';
        asnIn.removeAttribute('aria-invalid');
        changed();
        asnIn.focus();
      } catch (e) { errors.get('asn').textContent = e.message; } finally { nextBtn.disabled = false; }
    });

    // custom fields
    const rows = []; // {f, control, initial, isNew, rowEl}
    const removed = new Set();
    const fieldList = h('div', { class: 'meta-fields', 'data-testid': 'meta-fields' });
    const addSel = h('select', { id: 'meta-add-field', 'data-testid': 'add-field-select', 'aria-label': 'Add a field' });
    const addBox = h('div', { class: 'meta-add' }, icon('plus', 14), addSel);
    function fillAdd() {
      const have = new Set(rows.map((r) => r.f.field_id));
      const free = session.fields.filter((f) => !have.has(f.id));
      put(addSel, h('option', { value: '' }, free.length ? 'Add a field…' : session.fields.length ? 'Every field is on this document' : 'No custom fields yet'),
        free.map((f) => h('option', { value: String(f.id) }, `${f.name} (${kindLabel(f.kind)})`)));
      addSel.disabled = !free.length;
      addLink.hidden = session.fields.length > 0;
    }
    const addLink = h('a', { href: '#/fields', class: 'small' }, 'Create custom fields');
    addBox.append(addLink);
    function addRow(f, { isNew = false, from = '' } = {}) {
      const def = fieldDef(f.field_id);
      const control = fieldControl(f, def, d.id);
      const id = `mf-${f.field_id}`;
      const rowEl = h('div', { class: `meta-row field-row${isNew ? ' is-new' : ''}`, 'data-testid': 'meta-field-row', dataset: { key: `field-${f.field_id}`, fieldId: f.field_id, fieldName: f.name } },
        h('div', { class: 'field-head' },
          h('label', { for: id, title: f.name }, f.name), h('span', { class: 'muted small field-kind' }, kindLabel(f.kind || (def && def.kind))),
          iconButton('close', `Remove the field ${f.name} from this document`, { class: 'btn icon-btn field-remove', 'data-testid': 'field-remove', onclick: () => removeRow(f.field_id) })),
        control.el,
        from ? h('p', { class: 'muted small field-from', 'data-testid': 'field-from' }, from) : null,
        errEl(`field-${f.field_id}`, `${id}-err`));
      const r = { f, control, isNew, rowEl, from, initial: JSON.stringify(control.read()) };
      rows.push(r);
      fieldList.append(rowEl);
      return r;
    }
    function removeRow(fieldId) {
      const i = rows.findIndex((r) => r.f.field_id === fieldId);
      if (i < 0) return;
      const [r] = rows.splice(i, 1);
      r.rowEl.remove();
      if (!r.isNew) removed.add(fieldId);
      errors.delete(`field-${fieldId}`);
      fillAdd(); changed();
      addSel.focus();
    }
    function addField(fieldId, opts) {
      const def = fieldDef(fieldId);
      if (!def || rows.some((r) => r.f.field_id === fieldId)) return null;
      const wasThere = removed.delete(fieldId);
      const orig = wasThere ? (d.fields || []).find((x) => x.field_id === fieldId) : null;
      const r = addRow(orig || { field_id: def.id, name: def.name, kind: def.kind, value: null }, { isNew: !wasThere, ...opts });
      fillAdd(); changed();
      return r;
    }
    /**
     * A type brings its fields: shown at once, empty (the server adds them too). Choosing
     * another type first takes back the fields the previous choice brought, if still empty.
     */
    function addTypeFields(typeId) {
      for (const r of rows.filter((x) => x.isNew && x.from && x.control.read() == null)) {
        rows.splice(rows.indexOf(r), 1);
        r.rowEl.remove();
        errors.delete(`field-${r.f.field_id}`);
      }
      fillAdd(); changed();
      const t = session.labels['document-types'].find((x) => String(x.id) === String(typeId));
      if (!t) return;
      for (const fid of t.default_fields || []) addField(fid, { from: `Comes with the type ${t.name}.` });
    }
    addSel.addEventListener('change', () => {
      const r = addSel.value ? addField(Number(addSel.value)) : null;
      addSel.value = '';
      if (r) r.control.focus.focus();
    });
    for (const f of d.fields || []) addRow(f);
    fillAdd();

    const saveBtn = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'meta-save', disabled: true }, 'Save');
    const cancelBtn = h('button', { type: 'button', class: 'btn', 'data-testid': 'meta-cancel', onclick: () => cancel() }, 'Cancel');
    const dirtyEl = h('span', { class: 'muted small meta-dirty', 'aria-live': 'polite' });
    const mac = /Mac|iPhone|iPad/.test(navigator.platform || '');
    const node = h('form', { class: 'meta-form', novalidate: true, 'data-testid': 'meta-form', 'aria-label': 'Edit metadata', 'aria-keyshortcuts': mac ? 'Meta+Enter' : 'Control+Enter' },
      notice,
      h('div', { class: 'meta-grid' },
        corr.el, type.el,
        h('div', { class: 'meta-row', dataset: { key: 'date' } }, h('label', { for: 'meta-date' }, 'Date'), dateIn, dateHint, errEl('date', 'meta-date-err')),
        h('div', { class: 'meta-row', dataset: { key: 'asn' } }, h('label', { for: 'meta-asn' }, 'Archive serial number (ASN)'),
          h('div', { class: 'asn-control' }, asnIn, nextBtn), errEl('asn', 'meta-asn-err')),
        h('div', { class: 'meta-row', dataset: { key: 'path-template' } }, h('label', { for: 'meta-path-template' }, 'Path template'), ptSel, ptHint, errEl('path-template', 'meta-path-template-err'))),
      h('h3', { class: 'meta-sub' }, 'Custom fields'),
      fieldList, addBox,
      summary,
      h('div', { class: 'meta-actions' }, dirtyEl, h('span', { class: 'spacer' }), cancelBtn, saveBtn),
      h('p', { class: 'muted small meta-keys' }, `${mac ? '⌘' : 'Ctrl'}+Enter saves.`));

    const initial = { corr: corr.read(), type: type.read(), date: dateIn.value, asn: asnIn.value, pt: ptRead() };
    function body() {
      const b = {};
      if (corr.read() !== initial.corr) b.correspondent_id = corr.read();
      if (type.read() !== initial.type) b.document_type_id = type.read();
      if (dateIn.value !== initial.date) b.date = dateIn.value || null;
      if (ptRead() !== initial.pt) b.path_template_id = ptRead();
      if (asnIn.value.trim() !== initial.asn || asnIn.validity.badInput) b.asn = asnIn.value.trim();
      const fields = rows.filter((r) => r.isNew || JSON.stringify(r.control.read()) !== r.initial).map((r) => ({ field_id: r.f.field_id, value: r.control.read() }));
      if (fields.length) b.fields = fields;
      if (removed.size) b.remove_fields = [...removed];
      return b;
    }
    function changed() {
      const n = Object.keys(body()).length;
      saveBtn.disabled = n === 0;
      dirtyEl.textContent = n ? 'Unsaved changes' : '';
    }
    node.addEventListener('input', changed);
    node.addEventListener('change', changed);

    function clearErrors() {
      summary.textContent = '';
      for (const p of errors.values()) p.textContent = '';
      node.querySelectorAll('[aria-invalid]').forEach((x) => x.removeAttribute('aria-invalid'));
    }
    function showError(key, msg) {
      const p = errors.get(key);
      if (!p) { summary.textContent = msg; return; }
      p.textContent = msg;
      const row = node.querySelector(`[data-key="${key}"]`);
      const input = row && row.querySelector('input:not([type="checkbox"]), select, textarea');
      if (input) { input.setAttribute('aria-invalid', 'true'); input.focus(); }
    }
    /** Which part of the form a server message is about. */
    function keyOf(msg) {
      const m = /^field\s+"((?:[^"\\]|\\.)*)"\s*:/i.exec(msg);
      if (m) {
        const name = m[1].replace(/\\(.)/g, '$1');
        const r = rows.find((x) => x.f.name === name) || rows.find((x) => x.f.name.toLowerCase() === name.toLowerCase());
        return r ? `field-${r.f.field_id}` : null;
      }
      if (/archive serial number|\basn\b/i.test(msg)) return 'asn';
      if (/path template/i.test(msg)) return 'path-template';
      if (/correspondent/i.test(msg)) return 'correspondents';
      if (/document[ _]type/i.test(msg)) return 'document-types';
      if (/\bdate\b/i.test(msg)) return 'date';
      return null;
    }

    async function save() {
      clearErrors();
      const b = body();
      if (!Object.keys(b).length) { cancel(); return; }
      if ('asn' in b) {
        const raw = b.asn;
        if (asnIn.validity.badInput || (raw !== '' && !/^\d+$/.test(raw))) { showError('asn', 'An ASN is a whole number: 0, 1, 2…'); return; }
        b.asn = raw === '' ? null : Number(raw);
      }
      saveBtn.disabled = true; saveBtn.textContent = 'Saving…';
      try {
        const doc = await patch(`/documents/${docId}`, b);
        mode = 'read'; form = null;
        setDoc(doc);
        renderRead(doc);
        toast('Saved.');
        emit('changed', { kind: 'metadata' });
        loadLabels('correspondents').catch(() => {});
        loadLabels('document-types').catch(() => {});
        loadFields().catch(() => {});
        const btn = el.querySelector('[data-testid="meta-edit"]');
        if (btn) btn.focus();
      } catch (e) {
        saveBtn.disabled = false; saveBtn.textContent = 'Save';
        const key = keyOf(e.message || '');
        showError(key, e.message);
        toastError(e);
      }
    }
    function cancel() {
      mode = 'read'; form = null;
      renderRead(getDoc());
      const btn = el.querySelector('[data-testid="meta-edit"]');
      if (btn) btn.focus();
    }
    node.addEventListener('submit', (e) => { e.preventDefault(); save(); });
    node.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); save(); }
      // Escape leaves the form only while nothing is typed (never loses changes).
      else if (e.key === 'Escape' && !e.defaultPrevented && !Object.keys(body()).length) { e.preventDefault(); cancel(); }
    });

    form = { node, startedAt: d.updated_at, notice, save, cancel };
    put(el, head(h('span', { class: 'muted small' }, 'Editing')), node);
  }

  const offs = [
    on('labels', () => { if (mode === 'read') render(); }),
    on('fields', () => { if (mode === 'read') render(); }),
  ];
  return {
    el,
    render,
    /** Open the editor (`#/doc/5?edit=metadata`, the `e` key of a list). */
    edit: () => { if (mode !== 'edit') startEdit(); },
    editing: () => mode === 'edit',
    cleanup: () => offs.forEach((f) => f()),
  };
}

