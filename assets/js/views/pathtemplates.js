// Path templates (#23): where documents go in the folder tree, from their metadata. One page:
// the list, a form to add or change one with a live preview over your newest documents (or the
// ones you name), and the variables a template can read.
import { h, icon, put, plural, debounce } from '../dom.js';
import { post, patch, del } from '../api.js';
import { loadPathTemplates } from '../metadata.js';
import { toast, toastError, confirmDialog, spinner, errorBox, emptyState, setTitle } from '../ui.js';

const VARIABLES = [
  ['{correspondent}', 'The correspondent'],
  ['{type}', 'The document type'],
  ['{created:%Y}', 'The year it was written (any date format: %Y-%m, %B %Y…)'],
  ['{added:%Y-%m}', 'When it was added'],
  ['{title}', 'The title'],
  ['{asn:06}', 'The archive serial number, zero-padded'],
  ['{filename}', 'The uploaded file’s name'],
  ['{custom.Field name}', 'A custom field’s value'],
  ['{correspondent|Misc}', 'A value, or “Misc” when there is none'],
];

export async function pathTemplatesView() {
  setTitle('Path templates');
  const main = document.getElementById('main');
  const st = { alive: true, items: [], editing: null };

  const name = h('input', { id: 'pt-name', maxlength: 128, autocomplete: 'off', placeholder: 'Bills by sender', 'data-testid': 'pt-name' });
  const template = h('input', { id: 'pt-template', maxlength: 500, autocomplete: 'off', spellcheck: 'false', class: 'mono', placeholder: 'Finance/{correspondent}/{created:%Y}', 'aria-describedby': 'pt-template-help', 'data-testid': 'pt-template' });
  const fallback = h('input', { id: 'pt-fallback', maxlength: 64, autocomplete: 'off', value: 'Unknown', class: 'narrow-input', 'data-testid': 'pt-fallback' });
  const filename = h('input', { id: 'pt-filename', maxlength: 500, autocomplete: 'off', spellcheck: 'false', class: 'mono', placeholder: '{created:%Y-%m-%d} {correspondent} {title}', 'data-testid': 'pt-filename' });
  const previewIds = h('input', { id: 'pt-preview-ids', autocomplete: 'off', 'aria-label': 'Documents to preview on', placeholder: 'Document numbers, e.g. 12 40 (empty: your newest five)', 'data-testid': 'pt-preview-ids' });
  const preview = h('div', { class: 'pt-preview', role: 'status', 'aria-live': 'polite', 'data-testid': 'pt-preview' });
  const err = h('p', { class: 'field-error', role: 'alert', 'data-testid': 'pt-error' });
  const save = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'pt-save' }, icon('check', 16), 'Save template');
  const cancel = h('button', { type: 'button', class: 'btn', hidden: true, 'data-testid': 'pt-cancel' }, 'Cancel');
  const formTitle = h('h2', { id: 'pt-form-h' }, 'New path template');

  const chips = VARIABLES.map(([v, what]) => {
    const b = h('button', { type: 'button', class: 'chip-btn mono', title: what, 'data-testid': 'pt-variable' }, v);
    b.addEventListener('click', () => {
      const target = document.activeElement === filename ? filename : template;
      const at = target.selectionStart ?? target.value.length;
      target.value = target.value.slice(0, at) + v + target.value.slice(target.selectionEnd ?? at);
      target.focus();
      target.setSelectionRange(at + v.length, at + v.length);
      refreshPreview();
    });
    // Keep the focus where the user was typing (the click would take it).
    b.addEventListener('mousedown', (e) => e.preventDefault());
    return b;
  });

  const refreshPreview = debounce(async () => {
    if (!st.alive) return;
    const t = template.value.trim();
    if (!t) { put(preview, h('p', { class: 'muted small' }, 'Type a template to see where documents would go.')); return; }
    const ids = previewIds.value.split(/[\s,#]+/).filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 0);
    try {
      const r = await post('/path-templates/preview', { template: t, fallback: fallback.value.trim() || 'Unknown', filename: filename.value.trim() || null, document_ids: ids.slice(0, 20) });
      if (!r.items.length) { put(preview, h('p', { class: 'muted small' }, 'No documents yet to try it on.')); return; }
      put(preview, h('ul', { class: 'pt-preview-list' }, r.items.map((it) => h('li', { 'data-testid': 'pt-preview-row', dataset: { docId: it.document_id } },
        h('a', { href: `#/doc/${it.document_id}`, class: 'pt-doc' }, it.title),
        h('span', { class: 'pt-arrow', 'aria-hidden': 'true' }, '→'),
        h('span', { class: 'pt-path', 'data-testid': 'pt-preview-path' }, icon('folder', 14), ['Home', ...it.folders].join(' / ')),
        it.file_name ? h('span', { class: 'pt-file muted small', 'data-testid': 'pt-preview-file' }, icon('download', 12), it.file_name) : null))));
    } catch (ex) {
      put(preview, h('p', { class: 'field-error', 'data-testid': 'pt-preview-error' }, ex.message));
    }
  }, 250);
  for (const i of [template, fallback, filename, previewIds]) i.addEventListener('input', refreshPreview);

  const reset = () => {
    st.editing = null;
    name.value = ''; template.value = ''; filename.value = ''; fallback.value = 'Unknown';
    formTitle.textContent = 'New path template';
    cancel.hidden = true; err.textContent = '';
    refreshPreview();
  };
  cancel.addEventListener('click', reset);

  const form = h('form', { class: 'card', 'aria-labelledby': 'pt-form-h', 'data-testid': 'pt-form' },
    formTitle,
    h('div', { class: 'form-row' },
      h('div', { class: 'field grow' }, h('label', { for: 'pt-name' }, 'Name'), name),
      h('div', { class: 'field' }, h('label', { for: 'pt-fallback', title: 'What a missing value (no correspondent, no date…) becomes' }, 'When a value is missing'), fallback)),
    h('div', { class: 'field' }, h('label', { for: 'pt-template' }, 'Folders'), template),
    h('p', { class: 'muted small', id: 'pt-template-help' }, 'Folders below Home, separated by “/”. Each document goes where its metadata says; folders are made as needed and shared.'),
    h('div', { class: 'pt-variables', role: 'group', 'aria-label': 'Insert a variable' }, ...chips),
    h('div', { class: 'field' }, h('label', { for: 'pt-filename' }, 'Download name (optional)'), filename),
    h('details', { class: 'rule-try', open: true }, h('summary', null, 'Preview'), previewIds, preview),
    err, h('div', { class: 'form-row' }, save, cancel));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (!name.value.trim()) { err.textContent = 'Enter a name.'; name.focus(); return; }
    if (!template.value.trim()) { err.textContent = 'Enter a template.'; template.focus(); return; }
    const body = { name: name.value.trim(), template: template.value.trim(), fallback: fallback.value.trim() || 'Unknown', filename: filename.value.trim() || null };
    save.disabled = true;
    try {
      const t = st.editing ? await patch(`/path-templates/${st.editing}`, body) : await post('/path-templates', body);
      toast(st.editing
        ? (t.document_count ? `Saved “${t.name}”: its ${plural(t.document_count, 'document is', 'documents are')} being filed again.` : `Saved “${t.name}”.`)
        : `Created “${t.name}”. Give it to documents, to a document type, or to a matching rule.`);
      reset();
      await reload();
    } catch (ex) { err.textContent = ex.message; } finally { save.disabled = false; }
  });

  const body = h('div', { class: 'card tags-card' }, spinner());
  put(main, h('section', { class: 'labels-view narrow', 'aria-labelledby': 'pt-title', 'data-testid': 'path-templates-page' },
    h('div', { class: 'view-head' }, h('h1', { class: 'view-title', id: 'pt-title' }, icon('folderTree', 22), h('span', null, 'Path templates'))),
    h('p', { class: 'muted small' }, 'A path template files documents into folders by their metadata, like Finance/ACME/2024. A document gets one by hand (its metadata), from its document type, or from a matching rule; whenever the correspondent, date or another value it reads changes, the document moves. Moving a document yourself takes it off its template.'),
    form, body));

  const edit = (t) => {
    st.editing = t.id;
    name.value = t.name; template.value = t.template; fallback.value = t.fallback; filename.value = t.filename || '';
    formTitle.textContent = `Change “${t.name}”`;
    cancel.hidden = false;
    template.focus();
    refreshPreview();
  };
  const remove = async (t) => {
    const ok = await confirmDialog({ title: `Delete “${t.name}”?`, message: `${t.document_count ? `Its ${plural(t.document_count, 'document stays', 'documents stay')} where ${t.document_count === 1 ? 'it is' : 'they are'}, no longer filed by it. ` : ''}Document types and rules that give it lose it.`, confirmLabel: 'Delete', danger: true });
    if (!ok) return;
    try { await del(`/path-templates/${t.id}`); toast(`Deleted “${t.name}”.`); if (st.editing === t.id) reset(); await reload(); } catch (ex) { toastError(ex); }
  };

  function render() {
    if (!st.alive) return;
    if (!st.items.length) {
      put(body, emptyState('folderTree', 'No path templates yet', 'Add one above, e.g. Finance/{correspondent}/{created:%Y}.'));
      return;
    }
    put(body, h('div', { class: 'table-wrap' }, h('table', { class: 'table rules-table', 'data-testid': 'pt-table' },
      h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Folders'), h('th', null, 'Download name'), h('th', null, 'Documents'), h('th', null, h('span', { class: 'sr-only' }, 'Actions')))),
      h('tbody', null, st.items.map((t) => {
        const editBtn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'pt-edit' }, icon('edit', 14), 'Edit');
        const rmBtn = h('button', { type: 'button', class: 'btn btn-small btn-danger-soft', 'data-testid': 'pt-delete' }, icon('trash', 14), 'Delete');
        editBtn.addEventListener('click', () => edit(t));
        rmBtn.addEventListener('click', () => remove(t));
        return h('tr', { 'data-testid': 'pt-row', dataset: { name: t.name } },
          h('td', null, h('strong', null, t.name)),
          h('td', null, h('code', { class: 'rule-pattern' }, t.template), h('div', { class: 'muted small' }, `missing values: ${t.fallback}`)),
          h('td', null, t.filename ? h('code', { class: 'rule-pattern' }, t.filename) : h('span', { class: 'muted small' }, 'the file’s own')),
          h('td', { 'data-testid': 'pt-count' }, String(t.document_count)),
          h('td', { class: 'row-actions' }, editBtn, rmBtn));
      })))));
  }

  async function reload() {
    try {
      st.items = await loadPathTemplates();
      render();
    } catch (ex) { put(body, errorBox(ex, reload)); }
  }

  refreshPreview();
  await reload();
  return () => { st.alive = false; };
}
