// Custom fields: what a document can carry besides title, tags, correspondent, type and date.
// Create one of a kind (the kind never changes), rename it, set an Amount's currency, edit a
// Choice's options (renamed ones keep their values, removed ones empty theirs), delete it.
import { h, icon, iconButton, plural, put } from '../dom.js';
import { post, patch, del, on, session } from '../api.js';
import { toast, toastError, confirmDialog, promptDialog, modal, spinner, errorBox, emptyState, setTitle } from '../ui.js';
import { FIELD_KINDS, kindLabel, loadFields } from '../metadata.js';

const docCount = (f) => (Number.isFinite(f.document_count) ? f.document_count : 0);

function validateName(v) {
  if (!v) return 'Enter a name.';
  if (v.length > 128) return 'Names can be at most 128 characters.';
  return null;
}
function validateCurrency(v) {
  return /^[A-Za-z]{3}$/.test(v) ? null : 'A currency is three letters, like EUR or USD.';
}

/**
 * The options of a Choice field as editable rows. Existing options keep their id (renaming
 * keeps the values on documents); removing one warns that its values are emptied.
 * Returns {el, options() → [{id?, label}], focus()}.
 */
export function optionsEditor(initial = [], { idPrefix = 'opt' } = {}) {
  const rows = initial.map((o) => ({ id: o.id, label: o.label, original: o.label, removed: false }));
  const list = h('ol', { class: 'options-list', 'data-testid': 'options-list', 'aria-label': 'Options' });
  const warn = h('p', { class: 'options-warn small', role: 'status', 'data-testid': 'options-warning' });
  const addBtn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'option-add' }, icon('plus', 14), 'Add option');
  let seq = 0;

  function render(focusIndex) {
    const live = rows.filter((r) => !r.removed);
    put(list, live.length ? live.map((r, i) => {
      const input = h('input', {
        id: `${idPrefix}-${r.key ??= ++seq}`, value: r.label, maxlength: 128, autocomplete: 'off', 'data-testid': 'option-input',
        'aria-label': `Option ${i + 1}`, placeholder: 'Option label', dataset: r.id ? { optionId: r.id } : {},
      });
      input.addEventListener('input', () => { r.label = input.value; syncWarn(); });
      input.addEventListener('keydown', (e) => {
        // Enter adds the next option instead of submitting the form.
        if (e.key === 'Enter') { e.preventDefault(); add(); }
      });
      const renamed = r.id && r.original !== undefined && r.label.trim() !== r.original;
      return h('li', { class: 'option-row', 'data-testid': 'option-row' },
        input,
        renamed ? h('span', { class: 'muted small option-was', title: 'Documents with this option keep it under the new label' }, `was “${r.original}”`) : null,
        iconButton('close', `Remove option ${r.label || i + 1}`, { 'data-testid': 'option-remove', onclick: () => { r.removed = true; render(); syncWarn(); addBtn.focus(); } }));
    }) : h('li', { class: 'muted small' }, 'No options yet.'));
    if (focusIndex != null) { const inputs = list.querySelectorAll('input'); if (inputs[focusIndex]) inputs[focusIndex].focus(); }
  }
  function syncWarn() {
    const gone = rows.filter((r) => r.removed && r.id).map((r) => `“${r.original}”`);
    warn.textContent = gone.length
      ? `${gone.join(', ')} will be removed: documents that have ${gone.length === 1 ? 'it' : 'them'} get an empty value.`
      : '';
    warn.hidden = !gone.length;
    list.querySelectorAll('.option-row').forEach((li, i) => {
      const r = rows.filter((x) => !x.removed)[i];
      const was = li.querySelector('.option-was');
      const renamed = r && r.id && r.label.trim() !== r.original;
      if (renamed && !was) li.querySelector('input').after(h('span', { class: 'muted small option-was' }, `was “${r.original}”`));
      else if (!renamed && was) was.remove();
      else if (renamed && was) was.textContent = `was “${r.original}”`;
    });
  }
  function add() {
    rows.push({ label: '', removed: false });
    render(rows.filter((r) => !r.removed).length - 1);
  }
  addBtn.addEventListener('click', add);
  render();
  syncWarn();
  const el = h('div', { class: 'options-editor', 'data-testid': 'options-editor' }, list, addBtn, warn);
  return {
    el,
    options: () => rows.filter((r) => !r.removed && r.label.trim()).map((r) => (r.id ? { id: r.id, label: r.label.trim() } : { label: r.label.trim() })),
    focus: () => { const i = list.querySelector('input'); if (i) i.focus(); else addBtn.focus(); },
  };
}

export async function fieldsView() {
  setTitle('Custom fields');
  const main = document.getElementById('main');
  const st = { alive: true };

  const name = h('input', { id: 'new-field-name', required: true, maxlength: 128, autocomplete: 'off', placeholder: 'e.g. Amount', 'data-testid': 'new-field-name' });
  const kind = h('select', { id: 'new-field-kind', 'data-testid': 'new-field-kind' }, FIELD_KINDS.map(([v, l]) => h('option', { value: v }, l)));
  const currency = h('input', { id: 'new-field-currency', value: 'EUR', maxlength: 3, size: 4, autocomplete: 'off', autocapitalize: 'characters', spellcheck: 'false', 'data-testid': 'new-field-currency', class: 'currency-input' });
  const currencyField = h('div', { class: 'field', hidden: true }, h('label', { for: 'new-field-currency' }, 'Currency'), currency);
  let opts = optionsEditor([], { idPrefix: 'new-opt' });
  const optsHead = h('span', { class: 'label-text', id: 'new-field-options-h' }, 'Options');
  const optsBox = h('div', { class: 'field new-field-options', role: 'group', 'aria-labelledby': 'new-field-options-h', hidden: true }, optsHead, opts.el);
  const hint = h('p', { class: 'muted small', 'data-testid': 'new-field-hint' });
  const err = h('p', { class: 'field-error', role: 'alert', 'data-testid': 'new-field-error' });
  const createBtn = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'new-field-submit' }, icon('plus', 16), 'Create field');
  const HINTS = {
    text: 'One line of text.', long_text: 'Several lines of text.', integer: 'A whole number, like 12.', number: 'A number, like 3.75.',
    monetary: 'An amount with its currency, like 12.30 EUR. The currency below is the default; a document can give another.',
    date: 'A calendar day.', boolean: 'Yes or no.', url: 'A web address (starting with http, https, mailto or ftp).',
    select: 'One of a list of options you define below.', document_link: 'Links to other documents.',
  };
  const syncKind = () => {
    currencyField.hidden = kind.value !== 'monetary';
    optsBox.hidden = kind.value !== 'select';
    hint.textContent = `${HINTS[kind.value] || ''} The kind cannot be changed later.`;
  };
  kind.addEventListener('change', syncKind);
  syncKind();
  currency.addEventListener('input', () => { currency.value = currency.value.toUpperCase(); });
  const form = h('form', { class: 'card form-inline', 'aria-labelledby': 'new-field-h', novalidate: true },
    h('h2', { id: 'new-field-h' }, 'New field'),
    h('div', { class: 'form-row' },
      h('div', { class: 'field grow' }, h('label', { for: 'new-field-name' }, 'Name'), name),
      h('div', { class: 'field' }, h('label', { for: 'new-field-kind' }, 'Kind'), kind),
      currencyField,
      createBtn),
    hint, optsBox, err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    const n = name.value.trim();
    const bad = validateName(n);
    if (bad) { err.textContent = bad; name.focus(); return; }
    const body = { name: n, kind: kind.value };
    if (kind.value === 'monetary' && currency.value.trim()) {
      const bc = validateCurrency(currency.value.trim());
      if (bc) { err.textContent = bc; currency.focus(); return; }
      body.currency = currency.value.trim().toUpperCase();
    }
    if (kind.value === 'select') body.options = opts.options().map((o) => o.label);
    createBtn.disabled = true;
    try {
      const f = await post('/custom-fields', body);
      name.value = '';
      opts = optionsEditor([], { idPrefix: 'new-opt' });
      put(optsBox, optsHead, opts.el);
      toast(`Created field “${f.name}”: ${kindLabel(f.kind)}.`);
      await loadFields();
    } catch (ex) { err.textContent = ex.message; } finally { createBtn.disabled = false; }
  });

  const body = h('div', { class: 'card tags-card' }, spinner());
  put(main, h('section', { class: 'fields-view narrow', 'aria-labelledby': 'fields-title', 'data-testid': 'fields-page' },
    h('div', { class: 'view-head' }, h('h1', { class: 'view-title', id: 'fields-title' }, icon('fields', 22), h('span', null, 'Custom fields'))),
    h('p', { class: 'muted small' }, 'Fields hold what matters about a document, like an amount or a due date. Add them to a document on its page, or let a document type bring them.'),
    form, body));

  function detail(f) {
    if (f.kind === 'monetary') return f.currency ? `default currency ${f.currency}` : 'no default currency';
    if (f.kind === 'select') return (f.options || []).length ? (f.options || []).map((o) => o.label).join(', ') : 'no options yet';
    return '';
  }

  function render() {
    if (!st.alive) return;
    const items = session.fields;
    if (!items.length) {
      put(body, emptyState('fields', 'No custom fields yet', 'Create one above.'));
      return;
    }
    const rows = items.map((f) => {
      const c = docCount(f);
      const d = detail(f);
      return h('tr', { 'data-testid': 'field-row', 'data-id': f.id, 'data-name': f.name, 'data-kind': f.kind },
        h('td', { class: 'field-name-cell' }, h('strong', { class: 'field-name' }, f.name),
          h('div', { class: 'muted small' }, h('span', { 'data-testid': 'field-kind' }, kindLabel(f.kind)), d ? h('span', { 'data-testid': 'field-detail', class: 'field-detail' }, ` · ${d}`) : null)),
        h('td', { class: 'tag-count' }, h('span', { class: c ? '' : 'muted', 'data-testid': 'field-count' }, c ? plural(c, 'document', 'documents') : 'No documents')),
        h('td', { class: 'actions' },
          h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'field-rename', onclick: () => rename(f) }, icon('edit', 14), h('span', null, 'Rename')),
          f.kind === 'select' ? h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'field-options', onclick: () => editOptions(f) }, icon('fields', 14), h('span', null, 'Options…')) : null,
          f.kind === 'monetary' ? h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'field-currency', onclick: () => editCurrency(f) }, h('span', null, 'Currency…')) : null,
          h('button', { type: 'button', class: 'btn btn-small btn-danger-soft', 'data-testid': 'field-delete', onclick: () => remove(f) }, icon('trash', 14), h('span', null, 'Delete'))));
    });
    put(body, h('div', { class: 'table-wrap' }, h('table', { class: 'table tags-table fields-table', 'data-testid': 'fields-table' },
      h('caption', { class: 'sr-only' }, 'Your custom fields'),
      h('thead', null, h('tr', null, h('th', { scope: 'col' }, 'Field'), h('th', { scope: 'col' }, 'Documents'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
      h('tbody', null, rows))),
    h('p', { class: 'muted small list-foot' }, plural(items.length, 'field', 'fields')));
  }

  async function rename(f) {
    const r = await promptDialog({
      title: `Rename field “${f.name}”`, label: 'New name', value: f.name, confirmLabel: 'Rename', testid: 'rename-field',
      validate: validateName,
      submit: (v) => (v === f.name ? Promise.resolve(f) : patch(`/custom-fields/${f.id}`, { name: v })),
    });
    if (!r) return;
    if (r.name !== f.name) toast(`Renamed to “${r.name}”.`);
    await loadFields().catch(toastError);
  }

  async function editCurrency(f) {
    const r = await promptDialog({
      title: `Currency of “${f.name}”`, label: 'Default currency (three letters, like EUR)', value: f.currency || '', confirmLabel: 'Save', testid: 'field-currency',
      validate: validateCurrency,
      submit: (v) => patch(`/custom-fields/${f.id}`, { currency: v.toUpperCase() }),
    });
    if (!r) return;
    toast(`“${r.name}” now defaults to ${r.currency}. Amounts already saved keep their currency.`);
    await loadFields().catch(toastError);
  }

  async function editOptions(f) {
    const r = await modal({
      title: `Options of “${f.name}”`, testid: 'field-options-dialog', wide: true,
      build: (close) => {
        const ed = optionsEditor(f.options || [], { idPrefix: `opt-${f.id}` });
        const ferr = h('p', { class: 'field-error', role: 'alert', 'data-testid': 'field-options-error' });
        const ok = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'field-options-save' }, 'Save');
        setTimeout(() => ed.focus(), 0);
        return h('form', {
          class: 'form', novalidate: true,
          onsubmit: async (e) => {
            e.preventDefault();
            ok.disabled = true; ferr.textContent = '';
            try { close(await patch(`/custom-fields/${f.id}`, { options: ed.options() })); } catch (ex) { ferr.textContent = ex.message; ok.disabled = false; }
          },
        },
        h('p', { class: 'muted small' }, 'Renaming an option keeps it on the documents that have it.'),
        ed.el, ferr,
        h('div', { class: 'dialog-actions' }, h('button', { type: 'button', class: 'btn', onclick: () => close(undefined) }, 'Cancel'), ok));
      },
      onOpen: () => {},
    });
    if (!r) return;
    toast(`Saved the options of “${r.name}”.`);
    await loadFields().catch(toastError);
  }

  async function remove(f) {
    const c = docCount(f);
    const ok = await confirmDialog({
      title: `Delete field “${f.name}”?`, testid: 'delete-field-dialog', danger: true, confirmLabel: 'Delete field',
      message: c
        ? `${plural(c, 'document has', 'documents have')} “${f.name}”. The field and ${c === 1 ? 'its value' : 'their values'} are deleted; the documents stay. This cannot be undone.`
        : `No document has “${f.name}”. This cannot be undone.`,
    });
    if (!ok) return;
    try {
      await del(`/custom-fields/${f.id}`);
      toast(`Deleted field “${f.name}”.`);
      await loadFields();
    } catch (e) { toastError(e); }
  }

  const off = on('fields', render);
  try {
    await loadFields();
    render();
  } catch (e) {
    put(body, errorBox(e, () => fieldsView()));
  }
  return () => { st.alive = false; off(); };
}
