// Correspondents and document types: one page each, the same shape as Tags. The list with
// document counts (a count opens the documents that have it), create, rename, recolour, merge
// into another, delete; a document type also names the fields a document of its type gets.
import { h, icon, plural, safeColor, put } from '../dom.js';
import { post, patch, del, on, session } from '../api.js';
import { toast, toastError, confirmDialog, promptDialog, modal, spinner, errorBox, emptyState, setTitle } from '../ui.js';
import { LABELS, PALETTE, loadLabels, loadFields, loadPathTemplates, labelChip, labelHref, kindLabel } from '../metadata.js';

const docCount = (l) => (Number.isFinite(l.document_count) ? l.document_count : 0);

function validateName(v) {
  if (!v) return 'Enter a name.';
  if (v.length > 128) return 'Names can be at most 128 characters.';
  return null;
}

export function correspondentsView() { return labelsView('correspondents'); }
export function documentTypesView() { return labelsView('document-types'); }

async function labelsView(key) {
  const K = LABELS[key];
  const isType = key === 'document-types';
  setTitle(K.title);
  const main = document.getElementById('main');
  const st = { alive: true };
  const tid = K.testid;

  const name = h('input', { id: `new-${tid}-name`, required: true, maxlength: 128, autocomplete: 'off', placeholder: K.example, 'data-testid': `new-${tid}-name` });
  const color = h('input', { id: `new-${tid}-color`, type: 'color', value: PALETTE[session.labels[key].length % PALETTE.length], 'data-testid': `new-${tid}-color` });
  const err = h('p', { class: 'field-error', role: 'alert', 'data-testid': `new-${tid}-error` });
  const createBtn = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': `new-${tid}-submit` }, icon('plus', 16), `Create ${K.one}`);
  const form = h('form', { class: 'card form-inline', 'aria-labelledby': `new-${tid}-h` },
    h('h2', { id: `new-${tid}-h` }, `New ${K.one}`),
    h('div', { class: 'form-row' },
      h('div', { class: 'field grow' }, h('label', { for: `new-${tid}-name` }, 'Name'), name),
      h('div', { class: 'field' }, h('label', { for: `new-${tid}-color` }, 'Colour'), color),
      createBtn),
    err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    const n = name.value.trim();
    const bad = validateName(n);
    if (bad) { err.textContent = bad; name.focus(); return; }
    createBtn.disabled = true;
    try {
      const l = await post(K.api, { name: n, color: color.value });
      name.value = '';
      color.value = PALETTE[(session.labels[key].length + 1) % PALETTE.length];
      toast(`Created ${K.one} “${l.name}”.`);
      await loadLabels(key);
      if (isType && session.fields.length) editDefaults(l);
    } catch (ex) { err.textContent = ex.message; } finally { createBtn.disabled = false; }
  });

  const body = h('div', { class: 'card tags-card' }, spinner());
  put(main, h('section', { class: 'labels-view narrow', 'aria-labelledby': `${tid}-title`, 'data-testid': `${tid}-page` },
    h('div', { class: 'view-head' }, h('h1', { class: 'view-title', id: `${tid}-title` }, icon(K.icon, 22), h('span', null, K.title))),
    h('p', { class: 'muted small' }, isType
      ? 'A document has one type, like Invoice or Contract. A type can bring fields with it: a document that gets the type gets them too, empty, ready to fill in.'
      : 'A document has one correspondent: who sent it, or who it is about. Set it on the document’s page.'),
    form, body));

  const fieldNames = (ids) => (ids || []).map((id) => session.fields.find((f) => f.id === id)).filter(Boolean);

  function render() {
    if (!st.alive) return;
    const items = session.labels[key];
    if (!items.length) {
      put(body, emptyState(K.icon, `No ${K.many} yet`, `Create one above, or from a document’s page.`));
      return;
    }
    const rows = items.map((l) => {
      const c = docCount(l);
      const swatch = h('input', { type: 'color', value: safeColor(l.color), 'aria-label': `Colour of ${l.name}`, title: 'Change the colour', 'data-testid': `${tid}-color-input` });
      swatch.addEventListener('change', () => recolour(l, swatch.value));
      const defaults = isType ? fieldNames(l.default_fields) : [];
      return h('tr', { 'data-testid': `${tid}-row`, 'data-id': l.id, 'data-name': l.name },
        h('td', { class: 'tag-swatch' }, swatch),
        h('td', { class: 'tag-name-cell' }, labelChip(l),
          isType ? h('div', { class: 'muted small label-defaults', 'data-testid': `${tid}-defaults` },
            defaults.length ? `Fields: ${defaults.map((f) => f.name).join(', ')}` : 'No default fields') : null,
          isType && l.path_template_id ? h('div', { class: 'muted small label-defaults label-filing', 'data-testid': `${tid}-path-template` }, icon('folderTree', 12), ` Filed by ${((session.pathTemplates || []).find((t) => t.id === l.path_template_id) || { name: 'a path template' }).name}`) : null),
        h('td', { class: 'tag-count' },
          c ? h('a', { href: labelHref(key, l.id), 'data-testid': `${tid}-count` }, plural(c, 'document', 'documents'))
            : h('span', { class: 'muted', 'data-testid': `${tid}-count` }, 'No documents')),
        h('td', { class: 'actions' },
          h('button', { type: 'button', class: 'btn btn-small', 'data-testid': `${tid}-rename`, onclick: () => rename(l) }, icon('edit', 14), h('span', null, 'Rename')),
          isType ? h('button', { type: 'button', class: 'btn btn-small', 'data-testid': `${tid}-fields`, onclick: () => editDefaults(l) }, icon('fields', 14), h('span', null, 'Fields & filing…')) : null,
          h('button', { type: 'button', class: 'btn btn-small', 'data-testid': `${tid}-merge`, disabled: items.length < 2, title: items.length < 2 ? `Create another ${K.one} to merge into` : `Give the documents of “${l.name}” another ${K.one}`, onclick: () => merge(l) }, icon('move', 14), h('span', null, 'Merge into…')),
          h('button', { type: 'button', class: 'btn btn-small btn-danger-soft', 'data-testid': `${tid}-delete`, onclick: () => remove(l) }, icon('trash', 14), h('span', null, 'Delete'))));
    });
    put(body, h('div', { class: 'table-wrap' }, h('table', { class: 'table tags-table', 'data-testid': `${tid}-table` },
      h('caption', { class: 'sr-only' }, `Your ${K.many}`),
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Colour')), h('th', { scope: 'col' }, K.One),
        h('th', { scope: 'col' }, 'Documents'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
      h('tbody', null, rows))),
    h('p', { class: 'muted small list-foot' }, plural(items.length, K.one, K.many)));
  }

  async function recolour(l, value) {
    try {
      await patch(`${K.api}/${l.id}`, { color: value });
      toast(`“${l.name}” has a new colour.`);
      await loadLabels(key);
    } catch (e) { toastError(e); render(); }
  }

  async function rename(l) {
    const r = await promptDialog({
      title: `Rename ${K.one} “${l.name}”`, label: 'New name', value: l.name, confirmLabel: 'Rename', testid: `rename-${tid}`,
      validate: validateName,
      submit: (v) => (v === l.name ? Promise.resolve(l) : patch(`${K.api}/${l.id}`, { name: v })),
    });
    if (!r) return;
    if (r.name !== l.name) toast(`Renamed to “${r.name}”.`);
    await loadLabels(key).catch(toastError);
  }

  async function merge(l) {
    const others = session.labels[key].filter((x) => x.id !== l.id);
    if (!others.length) return;
    const c = docCount(l);
    const result = await modal({
      title: `Merge “${l.name}” into another ${K.one}`, testid: `merge-${tid}-dialog`,
      build: (close) => {
        const sel = h('select', { id: 'merge-into', 'data-testid': 'merge-into' },
          others.map((o) => h('option', { value: String(o.id) }, `${o.name} (${plural(docCount(o), 'document', 'documents')})`)));
        const explain = h('p', { class: 'muted small', 'data-testid': 'merge-explain' });
        const ferr = h('p', { class: 'field-error', role: 'alert', 'data-testid': 'merge-error' });
        const ok = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'merge-confirm' }, 'Merge');
        const sync = () => {
          const o = others.find((x) => String(x.id) === sel.value);
          const moved = c === 1 ? `The document with “${l.name}” gets “${o.name}” instead.` : `The ${plural(c, 'document', 'documents')} with “${l.name}” get “${o.name}” instead.`;
          explain.textContent = `${c ? moved : `No document has “${l.name}”.`} Then “${l.name}” is deleted. This cannot be undone.`;
        };
        sel.addEventListener('change', sync);
        sync();
        return h('form', {
          class: 'form',
          onsubmit: async (e) => {
            e.preventDefault();
            ok.disabled = true; ferr.textContent = '';
            try {
              const into = Number(sel.value);
              const r = await post(`${K.api}/${l.id}/merge`, { into });
              close(r || others.find((x) => x.id === into));
            } catch (ex) { ferr.textContent = ex.message; ok.disabled = false; }
          },
        },
        h('label', { for: 'merge-into' }, `Merge “${l.name}” into`), sel, explain, ferr,
        h('div', { class: 'dialog-actions' }, h('button', { type: 'button', class: 'btn', onclick: () => close(undefined) }, 'Cancel'), ok));
      },
    });
    if (!result) return;
    toast(`Merged “${l.name}” into “${result.name || `the other ${K.one}`}”.`);
    await loadLabels(key).catch(toastError);
  }

  async function remove(l) {
    const c = docCount(l);
    const ok = await confirmDialog({
      title: `Delete ${K.one} “${l.name}”?`, testid: `delete-${tid}-dialog`, danger: true, confirmLabel: `Delete ${K.one}`,
      message: c
        ? `${plural(c, 'document has', 'documents have')} “${l.name}”. ${c === 1 ? 'It keeps' : 'They keep'} everything else but will have no ${K.one}.`
        : `No document has “${l.name}”.`,
    });
    if (!ok) return;
    try {
      await del(`${K.api}/${l.id}`);
      toast(`Deleted ${K.one} “${l.name}”.`);
      await loadLabels(key);
    } catch (e) { toastError(e); }
  }

  /** Which fields a document of this type gets (in the order ticked). */
  async function editDefaults(l) {
    if (!session.fields.length) await loadFields().catch(() => {});
    await loadPathTemplates().catch(() => {});
    const fields = session.fields;
    const chosen = (l.default_fields || []).filter((id) => fields.some((f) => f.id === id));
    const result = await modal({
      title: `Fields of “${l.name}”`, testid: 'type-fields-dialog', wide: true,
      build: (close) => {
        const ferr = h('p', { class: 'field-error', role: 'alert', 'data-testid': 'type-fields-error' });
        const ok = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'type-fields-save' }, 'Save');
        const ptSel = h('select', { id: 'type-path-template', 'data-testid': 'type-path-template' }, h('option', { value: '' }, 'None'),
          (session.pathTemplates || []).map((t) => h('option', { value: String(t.id) }, t.name)));
        ptSel.value = l.path_template_id ? String(l.path_template_id) : '';
        const list = fields.length
          ? h('ul', { class: 'bulk-tags', 'aria-label': 'Custom fields' }, fields.map((f) => h('li', { class: 'bulk-tag', 'data-testid': 'type-field-row', dataset: { fieldId: f.id } },
            h('input', { type: 'checkbox', id: `tf-${f.id}`, checked: chosen.includes(f.id), 'data-testid': 'type-field-check',
              onchange: (e) => { const i = chosen.indexOf(f.id); if (e.target.checked && i < 0) chosen.push(f.id); else if (!e.target.checked && i >= 0) chosen.splice(i, 1); } }),
            h('label', { for: `tf-${f.id}` }, f.name),
            h('span', { class: 'muted small' }, kindLabel(f.kind)))))
          : h('p', { class: 'muted' }, 'You have no custom fields yet. Create them under Custom fields, then come back.');
        return h('form', {
          class: 'form',
          onsubmit: async (e) => {
            e.preventDefault();
            ok.disabled = true; ferr.textContent = '';
            const b = { default_fields: chosen };
            const pt = ptSel.value ? Number(ptSel.value) : null;
            if (pt !== (l.path_template_id || null)) b.path_template_id = pt;
            try { close(await patch(`${K.api}/${l.id}`, b)); } catch (ex) { ferr.textContent = ex.message; ok.disabled = false; }
          },
        },
        h('p', { class: 'muted small' }, `A document that gets the type “${l.name}” gets these fields, empty. Documents that already have the type keep their fields.`),
        list,
        h('label', { for: 'type-path-template' }, 'Path template'),
        ptSel,
        h('p', { class: 'muted small' }, `Documents of the type “${l.name}” are filed into folders by it (those without a template of their own, now and later).`),
        ferr,
        h('div', { class: 'dialog-actions' },
          h('a', { class: 'btn btn-small', href: '#/fields', onclick: () => close(undefined) }, icon('fields', 14), 'Custom fields'),
          h('span', { class: 'spacer' }),
          h('button', { type: 'button', class: 'btn', onclick: () => close(undefined) }, 'Cancel'), ok));
      },
    });
    if (!result) return;
    toast(result.filing_job_id ? `Saved “${l.name}”: its documents are being filed by the template.` : `Saved the fields and filing of “${l.name}”.`);
    await loadLabels(key).catch(toastError);
  }

  const offs = [on('labels', (k) => { if (k === key) render(); }), on('fields', render)];
  try {
    await Promise.all([loadLabels(key), isType ? loadFields().catch(() => {}) : null, isType ? loadPathTemplates().catch(() => {}) : null]);
    render();
  } catch (e) {
    put(body, errorBox(e, () => labelsView(key)));
  }
  return () => { st.alive = false; offs.forEach((f) => f()); };
}
