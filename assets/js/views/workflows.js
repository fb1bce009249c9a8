// Workflows (#23): when something happens to a document that looks like this, do these things.
// One page: the list (in the order they run, each one on or off), an editor — trigger, filters,
// an ordered list of actions — with "try it on a document" (the dry run), and the recent runs
// with each webhook's and email's delivery (a failed one can be sent again).
import { h, icon, put, fmtDateTime } from '../dom.js';
import { get, post, patch, del, session, loadTags } from '../api.js';
import { loadLabels, loadFields, loadPathTemplates, loadLlm } from '../metadata.js';
import { toast, toastError, confirmDialog, spinner, errorBox, emptyState, setTitle } from '../ui.js';

const TRIGGERS = [
  ['processed', 'Processing finished', 'The text is known: the usual choice.'],
  ['added', 'Document added', 'As it arrives, before its text is read.'],
  ['updated', 'Changed by you', 'When someone edits its metadata (workflows’ own changes do not count).'],
  ['scheduled', 'On a date', 'Once per document, some days after (or before) one of its dates.'],
];
const SOURCES = [['upload', 'Web upload'], ['api', 'API'], ['consume', 'Consume folder'], ['mail', 'Mail']];
const ACTIONS = [
  ['add_tags', 'Add tags'], ['remove_tags', 'Remove tags'], ['set_correspondent', 'Set correspondent'],
  ['set_document_type', 'Set document type'], ['set_title', 'Set title'], ['move_to_folder', 'Move to folder'],
  ['set_path_template', 'File by path template'], ['set_field', 'Set custom field'], ['add_note', 'Add note'],
  ['webhook', 'Send webhook'], ['email', 'Send email'], ['ask_llm', 'Ask the language model'], ['trash', 'Move to trash'],
];
const LLM_FIELDS = [['title', 'Title'], ['correspondent', 'Correspondent'], ['document_type', 'Type'], ['date', 'Date'], ['tags', 'Tags'], ['custom_fields', 'Custom fields']];
const actionLabel = (t) => (ACTIONS.find(([v]) => v === t) || [t, t])[1];
const triggerLabel = (t) => (TRIGGERS.find(([v]) => v === t) || [t, t])[1];

function options(items, selected, { none } = {}) {
  const out = none ? [h('option', { value: '' }, none)] : [];
  for (const it of items) out.push(h('option', { value: String(it.id), selected: String(it.id) === String(selected ?? '') }, it.name));
  return out;
}
function multi(items, selected, attrs) {
  const sel = h('select', { multiple: true, size: Math.min(5, Math.max(2, items.length)), ...attrs });
  for (const it of items) sel.append(h('option', { value: String(it.id), selected: (selected || []).includes(it.id) }, it.name));
  return sel;
}
const picked = (sel) => [...sel.selectedOptions].map((o) => Number(o.value));
const num = (v) => (v === '' || v == null ? null : Number(v));

/** The owner's folders, as "Home / Bills / 2024" paths (two levels below the roots). */
async function loadFolderPaths() {
  const out = [];
  const roots = session.roots ? [session.roots.home, session.roots.inbox] : [];
  async function walk(f, path, depth) {
    out.push({ id: f.id, name: path });
    if (depth >= 2) return;
    const r = await get(`/folders/${f.id}/children`, { page_size: 200 });
    for (const c of r.items || []) if (c.type === 'folder') await walk(c, `${path} / ${c.name}`, depth + 1);
  }
  for (const r of roots) await walk(r, r.name, 0);
  return out;
}

export async function workflowsView() {
  setTitle('Workflows');
  const main = document.getElementById('main');
  const st = { alive: true, items: [], editing: null, actions: [], folders: [] };
  const listEl = h('div', { class: 'card tags-card' }, spinner());
  const runsEl = h('div', { class: 'card tags-card', 'data-testid': 'wf-runs' }, spinner());

  // ---------- the editor ----------
  const name = h('input', { id: 'wf-name', maxlength: 128, autocomplete: 'off', placeholder: 'File ACME bills', 'data-testid': 'wf-name' });
  const trigger = h('select', { id: 'wf-trigger', 'data-testid': 'wf-trigger' }, TRIGGERS.map(([v, l]) => h('option', { value: v }, l)));
  const triggerHelp = h('p', { class: 'muted small' });
  const base = h('select', { id: 'wf-base', 'data-testid': 'wf-base' },
    h('option', { value: 'created' }, 'the date it was written'), h('option', { value: 'added' }, 'the day it was added'), h('option', { value: 'field' }, 'a date field'));
  const baseField = h('select', { id: 'wf-base-field', 'aria-label': 'Date field', 'data-testid': 'wf-base-field' });
  const offset = h('input', { id: 'wf-offset', type: 'number', value: '30', class: 'narrow-input', 'data-testid': 'wf-offset' });
  const schedule = h('div', { class: 'form-row', hidden: true, 'data-testid': 'wf-schedule' },
    h('div', { class: 'field' }, h('label', { for: 'wf-offset' }, 'Days after (negative: before)'), offset),
    h('div', { class: 'field' }, h('label', { for: 'wf-base' }, 'Counted from'), base), baseField);
  const syncTrigger = () => {
    const t = TRIGGERS.find(([v]) => v === trigger.value);
    triggerHelp.textContent = t ? t[2] : '';
    schedule.hidden = trigger.value !== 'scheduled';
    baseField.hidden = base.value !== 'field';
    textContains.disabled = trigger.value === 'added';
  };
  trigger.addEventListener('change', syncTrigger);
  base.addEventListener('change', syncTrigger);

  const filename = h('input', { id: 'wf-filename', class: 'mono', placeholder: 'e.g. invoice-*.pdf', 'data-testid': 'wf-filename' });
  const textContains = h('input', { id: 'wf-text', placeholder: 'e.g. ACME Corp', 'data-testid': 'wf-text' });
  const sources = SOURCES.map(([v, l]) => h('label', { class: 'check' }, h('input', { type: 'checkbox', value: v, 'data-testid': `wf-source-${v}` }), ` ${l}`));
  const filterSlots = h('div', { class: 'wf-filters' });
  const actionsEl = h('ol', { class: 'wf-actions', 'data-testid': 'wf-actions' });
  const addAction = h('select', { 'aria-label': 'Add an action', 'data-testid': 'wf-add-action' },
    h('option', { value: '' }, 'Add an action…'), ACTIONS.map(([v, l]) => h('option', { value: v }, l)));
  addAction.addEventListener('change', () => {
    if (!addAction.value) return;
    st.actions.push({ type: addAction.value });
    addAction.value = '';
    renderActions();
  });

  let filterInputs = {};
  function renderFilters(f = {}) {
    const tags = session.tags || [];
    filterInputs = {
      tags_any: multi(tags, f.tags_any, { id: 'wf-tags-any', 'data-testid': 'wf-tags-any' }),
      tags_all: multi(tags, f.tags_all, { id: 'wf-tags-all', 'data-testid': 'wf-tags-all' }),
      tags_none: multi(tags, f.tags_none, { id: 'wf-tags-none', 'data-testid': 'wf-tags-none' }),
      correspondent_id: h('select', { id: 'wf-corr', 'data-testid': 'wf-correspondent' }, options(session.labels.correspondents, f.correspondent_id, { none: 'Any' })),
      document_type_id: h('select', { id: 'wf-type', 'data-testid': 'wf-type' }, options(session.labels['document-types'], f.document_type_id, { none: 'Any' })),
      folder_id: h('select', { id: 'wf-folder', 'data-testid': 'wf-folder' }, options(st.folders, f.folder_id, { none: 'Anywhere' })),
    };
    filename.value = f.filename || '';
    textContains.value = f.text_contains || '';
    for (const s of sources) s.firstChild.checked = (f.sources || []).includes(s.firstChild.value);
    put(filterSlots,
      h('div', { class: 'form-row' },
        h('div', { class: 'field grow' }, h('label', { for: 'wf-text' }, 'Text contains'), textContains),
        h('div', { class: 'field grow' }, h('label', { for: 'wf-filename' }, 'File name'), filename)),
      h('div', { class: 'field' }, h('span', { class: 'label' }, 'Came in by (none ticked: any way)'), h('div', { class: 'checks' }, ...sources)),
      h('div', { class: 'form-row' },
        h('div', { class: 'field' }, h('label', { for: 'wf-tags-any' }, 'Has any of the tags'), filterInputs.tags_any),
        h('div', { class: 'field' }, h('label', { for: 'wf-tags-all' }, 'Has all of the tags'), filterInputs.tags_all),
        h('div', { class: 'field' }, h('label', { for: 'wf-tags-none' }, 'Has none of the tags'), filterInputs.tags_none)),
      h('div', { class: 'form-row' },
        h('div', { class: 'field' }, h('label', { for: 'wf-corr' }, 'Correspondent'), filterInputs.correspondent_id),
        h('div', { class: 'field' }, h('label', { for: 'wf-type' }, 'Document type'), filterInputs.document_type_id),
        h('div', { class: 'field' }, h('label', { for: 'wf-folder' }, 'In folder (or below)'), filterInputs.folder_id)));
    st.fieldFilters = f.fields || [];
  }

  function actionEditor(a, i) {
    const set = (k, v) => { a[k] = v; };
    const inp = (k, attrs = {}) => {
      const el = h('input', { value: a[k] ?? '', ...attrs });
      el.addEventListener('input', () => set(k, el.value));
      return el;
    };
    const sel = (k, items, none) => {
      const el = h('select', null, options(items, a[k], { none }));
      el.addEventListener('change', () => set(k, num(el.value)));
      if (a[k] === undefined) a[k] = num(el.value);
      return el;
    };
    let body;
    switch (a.type) {
      case 'add_tags': case 'remove_tags': {
        const m = multi(session.tags || [], a.tag_ids, { 'aria-label': 'Tags', 'data-testid': 'wf-action-tags' });
        m.addEventListener('change', () => set('tag_ids', picked(m)));
        body = m; break;
      }
      case 'set_correspondent': body = sel('correspondent_id', session.labels.correspondents, 'None (clear it)'); break;
      case 'set_document_type': body = sel('document_type_id', session.labels['document-types'], 'None (clear it)'); break;
      case 'set_path_template': body = sel('path_template_id', session.pathTemplates || [], 'None (detach it)'); break;
      case 'move_to_folder': body = sel('folder_id', st.folders); break;
      case 'set_title': body = inp('title', { class: 'mono grow', placeholder: '{correspondent} {type} {created:%Y-%m}', 'data-testid': 'wf-action-title' }); break;
      case 'add_note': body = inp('body', { class: 'grow', placeholder: 'Filed automatically from {filename}', 'data-testid': 'wf-action-note' }); break;
      case 'set_field': {
        const f = sel('field_id', session.fields || []);
        const v = h('input', { value: a.value ?? '', placeholder: 'Value (empty: remove the field)', 'data-testid': 'wf-action-value' });
        v.addEventListener('input', () => set('value', v.value === '' ? null : v.value));
        if (a.value === undefined) a.value = null;
        body = h('span', { class: 'form-row' }, f, v); break;
      }
      case 'webhook': {
        const file = h('input', { type: 'checkbox', checked: !!a.include_file });
        file.addEventListener('change', () => set('include_file', file.checked));
        body = h('span', { class: 'form-row' }, inp('url', { type: 'url', class: 'mono grow', placeholder: 'The receiver’s address, e.g. hooks.example.com/docmerge', 'data-testid': 'wf-action-url' }),
          h('label', { class: 'check' }, file, ' with the file'),
          a.secret ? h('code', { class: 'muted small', title: 'Signing secret (Standard Webhooks)' }, a.secret) : h('span', { class: 'muted small' }, 'A signing secret is made when you save.'));
        break;
      }
      case 'email': {
        const to = h('input', { value: (a.to || []).join(', '), placeholder: 'to@example.com', 'data-testid': 'wf-action-to' });
        to.addEventListener('input', () => set('to', to.value.split(/[,;\s]+/).filter(Boolean)));
        const file = h('input', { type: 'checkbox', checked: !!a.attach_file });
        file.addEventListener('change', () => set('attach_file', file.checked));
        body = h('span', { class: 'wf-email' }, to, inp('subject', { placeholder: 'New document: {title}' }),
          (() => { const t = h('textarea', { rows: 2, placeholder: '{title} from {correspondent} arrived.' }, a.body || ''); t.addEventListener('input', () => set('body', t.value)); return t; })(),
          h('label', { class: 'check' }, file, ' attach the file'));
        break;
      }
      case 'ask_llm': {
        const mode = h('select', { 'aria-label': 'What to do with the answer', 'data-testid': 'wf-action-llm-mode' },
          h('option', { value: 'suggest', selected: a.mode !== 'apply' }, 'Offer as suggestions'),
          h('option', { value: 'apply', selected: a.mode === 'apply' }, 'Apply the answer'));
        mode.addEventListener('change', () => set('mode', mode.value));
        if (!a.mode) a.mode = 'suggest';
        const chosen = new Set(a.fields && a.fields.length ? a.fields : LLM_FIELDS.map(([v]) => v));
        a.fields = [...chosen];
        const boxes = LLM_FIELDS.map(([v, l]) => {
          const c = h('input', { type: 'checkbox', value: v, checked: chosen.has(v), 'data-testid': `wf-action-llm-${v}` });
          c.addEventListener('change', () => { if (c.checked) chosen.add(v); else chosen.delete(v); set('fields', LLM_FIELDS.map(([x]) => x).filter((x) => chosen.has(x))); });
          return h('label', { class: 'check' }, c, ` ${l}`);
        });
        body = h('span', { class: 'wf-llm' }, mode, h('span', { class: 'checks' }, ...boxes),
          h('span', { class: 'muted small' }, session.llm && session.llm.enabled
            ? `Sent to ${session.llm.model || 'the configured model'} with your names; answers that are not one of them are dropped.`
            : 'The operator has not configured a language model: this action cannot be saved.'));
        break;
      }
      default: body = h('span', { class: 'muted small' }, 'The document goes to the trash (it can be restored from there).');
    }
    const up = h('button', { type: 'button', class: 'btn btn-small', title: 'Earlier', 'aria-label': 'Move up', disabled: i === 0 }, icon('chevronUp', 14));
    const down = h('button', { type: 'button', class: 'btn btn-small', title: 'Later', 'aria-label': 'Move down', disabled: i === st.actions.length - 1 }, icon('chevronDown', 14));
    const rm = h('button', { type: 'button', class: 'btn btn-small btn-danger-soft', 'aria-label': 'Remove this action' }, icon('trash', 14));
    up.addEventListener('click', () => { [st.actions[i - 1], st.actions[i]] = [st.actions[i], st.actions[i - 1]]; renderActions(); });
    down.addEventListener('click', () => { [st.actions[i + 1], st.actions[i]] = [st.actions[i], st.actions[i + 1]]; renderActions(); });
    rm.addEventListener('click', () => { st.actions.splice(i, 1); renderActions(); });
    return h('li', { class: 'wf-action', 'data-testid': 'wf-action', dataset: { type: a.type } },
      h('strong', { class: 'wf-action-name' }, actionLabel(a.type)), h('div', { class: 'wf-action-body' }, body), h('span', { class: 'row-actions' }, up, down, rm));
  }
  function renderActions() {
    put(actionsEl, ...(st.actions.length ? st.actions.map(actionEditor) : [h('li', { class: 'muted small' }, 'No actions yet: add at least one.')]));
  }

  function spec() {
    const f = {};
    if (filename.value.trim()) f.filename = filename.value.trim();
    if (!textContains.disabled && textContains.value.trim()) f.text_contains = textContains.value.trim();
    const srcs = sources.map((s) => s.firstChild).filter((c) => c.checked).map((c) => c.value);
    if (srcs.length) f.sources = srcs;
    for (const k of ['tags_any', 'tags_all', 'tags_none']) { const v = picked(filterInputs[k]); if (v.length) f[k] = v; }
    for (const k of ['correspondent_id', 'document_type_id', 'folder_id']) { const v = num(filterInputs[k].value); if (v != null) f[k] = v; }
    if (st.fieldFilters.length) f.fields = st.fieldFilters;
    const t = { type: trigger.value };
    if (t.type === 'scheduled') {
      t.base = base.value;
      t.offset_days = Number(offset.value || 0);
      if (t.base === 'field') t.field_id = num(baseField.value);
    }
    return { name: name.value.trim(), enabled: st.enabled ?? true, position: st.position ?? 0, trigger: t, filters: f, actions: st.actions };
  }

  // Try it on a document (the dry run, with the form as it is).
  const tryDoc = h('input', { id: 'wf-try-doc', class: 'narrow-input', inputmode: 'numeric', placeholder: 'No.', 'data-testid': 'wf-try-doc' });
  const tryBtn = h('button', { type: 'button', class: 'btn', 'data-testid': 'wf-try' }, icon('view', 16), 'What would it do?');
  const tryOut = h('div', { class: 'wf-try-out', role: 'status', 'aria-live': 'polite', 'data-testid': 'wf-try-out' });
  tryBtn.addEventListener('click', async () => {
    const id = Number(tryDoc.value.replace(/^#/, ''));
    if (!Number.isInteger(id) || id <= 0) { put(tryOut, h('p', { class: 'field-error' }, 'Enter a document number.')); return; }
    try {
      const r = await post('/workflows/dry-run', { document_id: id, workflow: spec() });
      put(tryOut, dryRunView(r.results[0]));
    } catch (ex) { put(tryOut, h('p', { class: 'field-error', 'data-testid': 'wf-try-error' }, ex.message)); }
  });

  const err = h('p', { class: 'field-error', role: 'alert', 'data-testid': 'wf-error' });
  const save = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'wf-save' }, icon('check', 16), 'Save workflow');
  const cancel = h('button', { type: 'button', class: 'btn', hidden: true, 'data-testid': 'wf-cancel' }, 'Cancel');
  const formTitle = h('h2', { id: 'wf-form-h' }, 'New workflow');
  const form = h('form', { class: 'card wf-form', 'aria-labelledby': 'wf-form-h', 'data-testid': 'wf-form' },
    formTitle,
    h('div', { class: 'form-row' },
      h('div', { class: 'field grow' }, h('label', { for: 'wf-name' }, 'Name'), name),
      h('div', { class: 'field' }, h('label', { for: 'wf-trigger' }, 'When'), trigger)),
    triggerHelp, schedule,
    h('h3', { class: 'wf-sub' }, icon('filter', 16), 'For documents that…'), filterSlots,
    h('h3', { class: 'wf-sub' }, icon('rules', 16), 'Do, in this order'), actionsEl, addAction,
    h('p', { class: 'muted small' }, 'Titles, notes and emails may use {title}, {correspondent}, {type}, {created:%Y-%m}, {added}, {asn}, {filename}, {custom.Field}. Webhooks are signed the Standard Webhooks way and retried until the receiver answers 2xx.'),
    h('details', { class: 'rule-try', open: true }, h('summary', null, 'Try it on a document'), h('div', { class: 'form-row' }, tryDoc, tryBtn), tryOut),
    err, h('div', { class: 'form-row' }, save, cancel));

  const reset = () => {
    st.editing = null; st.enabled = true; st.position = 0; st.actions = [];
    name.value = ''; trigger.value = 'processed'; base.value = 'created'; offset.value = '30';
    formTitle.textContent = 'New workflow'; cancel.hidden = true; err.textContent = ''; put(tryOut);
    renderFilters({}); renderActions(); syncTrigger();
  };
  cancel.addEventListener('click', reset);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    const body = spec();
    if (!body.name) { err.textContent = 'Enter a name.'; name.focus(); return; }
    if (!body.actions.length) { err.textContent = 'Add at least one action.'; addAction.focus(); return; }
    save.disabled = true;
    try {
      const w = st.editing ? await patch(`/workflows/${st.editing}`, body) : await post('/workflows', body);
      toast(st.editing ? `Saved “${w.spec?.name || w.name}”.` : `Created “${w.name}”. It runs on documents from now on.`);
      reset();
      await reload();
    } catch (ex) { err.textContent = ex.message; } finally { save.disabled = false; }
  });

  const edit = (w) => {
    st.editing = w.id; st.enabled = w.enabled; st.position = w.position;
    st.actions = JSON.parse(JSON.stringify(w.actions));
    name.value = w.name; trigger.value = w.trigger.type;
    if (w.trigger.type === 'scheduled') { base.value = w.trigger.base; offset.value = String(w.trigger.offset_days ?? 0); }
    put(baseField, ...options((session.fields || []).filter((f) => f.kind === 'date'), w.trigger.field_id));
    formTitle.textContent = `Change “${w.name}”`; cancel.hidden = false;
    renderFilters(w.filters || {}); renderActions(); syncTrigger();
    form.scrollIntoView({ behavior: 'smooth', block: 'start' });
    name.focus();
  };

  // ---------- the list ----------
  function summary(w) {
    const t = w.trigger;
    let when = triggerLabel(t.type);
    if (t.type === 'scheduled') {
      const from = t.base === 'field' ? ((session.fields || []).find((f) => f.id === t.field_id)?.name || 'a date field') : (t.base === 'added' ? 'added' : 'written');
      when = `${Math.abs(t.offset_days)} days ${t.offset_days < 0 ? 'before' : 'after'} ${from}`;
    }
    const nf = Object.keys(w.filters || {}).length;
    return [when, nf ? ` · ${nf} ${nf === 1 ? 'filter' : 'filters'}` : ' · every document'];
  }
  function renderList() {
    if (!st.alive) return;
    if (!st.items.length) { put(listEl, emptyState('rules', 'No workflows yet', 'Add one above: for example, tag every invoice from ACME and send it to your bookkeeper.')); return; }
    put(listEl, h('div', { class: 'table-wrap' }, h('table', { class: 'table rules-table', 'data-testid': 'wf-table' },
      h('thead', null, h('tr', null, h('th', null, 'On'), h('th', null, 'Name'), h('th', null, 'When'), h('th', null, 'Does'), h('th', null, h('span', { class: 'sr-only' }, 'Actions')))),
      h('tbody', null, st.items.map((w) => {
        const on = h('input', { type: 'checkbox', checked: w.enabled, 'aria-label': `Run “${w.name}”`, 'data-testid': 'wf-enabled' });
        on.addEventListener('change', async () => {
          try { await patch(`/workflows/${w.id}`, { enabled: on.checked }); toast(on.checked ? `“${w.name}” is on.` : `“${w.name}” is off.`); await reload(); } catch (ex) { on.checked = !on.checked; toastError(ex); }
        });
        const editBtn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'wf-edit' }, icon('edit', 14), 'Edit');
        const runsBtn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'wf-show-runs' }, icon('history', 14), 'Runs');
        const rmBtn = h('button', { type: 'button', class: 'btn btn-small btn-danger-soft', 'data-testid': 'wf-delete' }, icon('trash', 14), 'Delete');
        editBtn.addEventListener('click', () => edit(w));
        runsBtn.addEventListener('click', () => loadRuns(w));
        rmBtn.addEventListener('click', async () => {
          if (!(await confirmDialog({ title: `Delete “${w.name}”?`, message: 'Its past runs stay in the list, with its name.', confirmLabel: 'Delete', danger: true }))) return;
          try { await del(`/workflows/${w.id}`); toast(`Deleted “${w.name}”.`); if (st.editing === w.id) reset(); await reload(); } catch (ex) { toastError(ex); }
        });
        return h('tr', { 'data-testid': 'wf-row', dataset: { name: w.name }, class: w.enabled ? '' : 'muted' },
          h('td', null, on), h('td', null, h('strong', null, w.name)), h('td', { class: 'small' }, ...summary(w)),
          h('td', { class: 'small' }, w.actions.map((a) => actionLabel(a.type)).join(' → ')),
          h('td', { class: 'row-actions' }, editBtn, runsBtn, rmBtn));
      })))));
  }

  // ---------- runs ----------
  async function loadRuns(w) {
    put(runsEl, spinner());
    try {
      const r = await get('/workflow-runs', { workflow_id: w ? w.id : undefined, page_size: 30 });
      renderRuns(r.items || [], w);
    } catch (ex) { put(runsEl, errorBox(ex, () => loadRuns(w))); }
  }
  function deliveryChip(d) {
    const cls = d.state === 'delivered' ? 'ok' : d.state === 'failed' ? 'bad' : 'wait';
    const retry = d.state === 'failed' ? h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'wf-retry' }, icon('refresh', 12), 'Send again') : null;
    if (retry) retry.addEventListener('click', async () => { try { await post(`/workflow-deliveries/${d.id}/retry`, {}); toast('Sending it again.'); await loadRuns(); } catch (ex) { toastError(ex); } });
    return h('div', { class: `wf-delivery ${cls}`, 'data-testid': 'wf-delivery', dataset: { state: d.state } },
      icon(d.kind === 'email' ? 'note' : 'link', 12), ` ${d.kind} to `, h('code', null, d.target), ` — ${d.state}`,
      d.attempts ? ` after ${d.attempts} ${d.attempts === 1 ? 'attempt' : 'attempts'}` : '',
      d.last_status ? ` (${d.last_status})` : '', d.last_error && d.state !== 'delivered' ? h('div', { class: 'muted small' }, d.last_error) : null, retry);
  }
  function renderRuns(runs, w) {
    const head = h('h2', null, w ? `Runs of “${w.name}”` : 'Recent runs');
    if (!runs.length) { put(runsEl, head, h('p', { class: 'muted small' }, 'No runs yet. A workflow runs when its trigger happens to a document its filters accept.')); return; }
    put(runsEl, head, h('div', { class: 'table-wrap' }, h('table', { class: 'table', 'data-testid': 'wf-runs-table' },
      h('thead', null, h('tr', null, h('th', null, 'When'), h('th', null, 'Workflow'), h('th', null, 'Document'), h('th', null, 'Outcome'), h('th', null, 'What it did'))),
      h('tbody', null, runs.map((r) => h('tr', { 'data-testid': 'wf-run', dataset: { outcome: r.outcome } },
        h('td', { class: 'small' }, fmtDateTime(new Date(r.created_at).toISOString())),
        h('td', null, r.workflow_name, h('div', { class: 'muted small' }, triggerLabel(r.trigger))),
        h('td', null, r.document_id ? h('a', { href: `#/doc/${r.document_id}` }, `#${r.document_id}`) : '—'),
        h('td', null, h('span', { class: `wf-outcome ${r.outcome}` }, r.outcome), r.error ? h('div', { class: 'field-error small' }, r.error) : null),
        h('td', { class: 'small' }, h('ul', { class: 'wf-steps' }, r.steps.map((s) => h('li', null, s.summary))), ...r.deliveries.map(deliveryChip))))))));
  }

  async function reload() {
    try {
      const r = await get('/workflows');
      st.items = r.items || [];
      renderList();
    } catch (ex) { put(listEl, errorBox(ex, reload)); }
  }

  // The lists the form offers come first: the form appears when they are there.
  put(main, spinner());
  try {
    await Promise.allSettled([loadTags(), loadLabels('correspondents'), loadLabels('document-types'), loadFields(), loadPathTemplates(), loadLlm()]);
    st.folders = await loadFolderPaths();
  } catch (ex) { toastError(ex); }
  if (!st.alive) return undefined;
  put(main, h('section', { class: 'labels-view narrow', 'aria-labelledby': 'wf-title', 'data-testid': 'workflows-page' },
    h('div', { class: 'view-head' }, h('h1', { class: 'view-title', id: 'wf-title' }, icon('rules', 22), h('span', null, 'Workflows'))),
    h('p', { class: 'muted small' }, 'A workflow acts on documents by itself: when one is added, processed, changed by you, or on a date, and it matches the filters, the actions run in order — set metadata, file it, add a note, notify another system by webhook or email, or move it to the trash. Workflows run in the order listed; each sees what the ones before it did.'),
    form, listEl, runsEl));

  put(baseField, ...options((session.fields || []).filter((f) => f.kind === 'date'), null));
  reset();
  await Promise.all([reload(), loadRuns(null)]);
  return () => { st.alive = false; };
}

/** One workflow's dry run: each filter's verdict, then what it would do. */
export function dryRunView(r) {
  return h('div', { class: `wf-dry ${r.would_run ? 'yes' : 'no'}`, 'data-testid': 'wf-dry', dataset: { wouldRun: String(r.would_run) } },
    h('p', null, h('strong', null, r.workflow_name || 'This workflow'), r.would_run ? ' would run on it:' : ' would not run on it.'),
    r.checks.length ? h('ul', { class: 'wf-checks' }, r.checks.map((c) => h('li', { class: c.passed ? 'ok' : 'bad', 'data-testid': 'wf-check' }, icon(c.passed ? 'check' : 'alert', 12), ` ${c.filter.replace(/_/g, ' ')}: ${c.detail}`))) : h('p', { class: 'muted small' }, 'No filters: every document.'),
    r.would_run ? h('ol', { class: 'wf-steps' }, r.steps.map((s) => h('li', { 'data-testid': 'wf-step' }, s.summary))) : null);
}
