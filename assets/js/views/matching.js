// Matching rules (#23): one page listing every rule — on tags, correspondents, document types
// and folders — with a form to add or change one, try it on a text or a document before saving,
// and run all rules again over every document (one job).
import { h, icon, put, plural, fmtDateTime } from '../dom.js';
import { get, post, del, request, session, loadTags } from '../api.js';
import { toast, toastError, confirmDialog, spinner, errorBox, emptyState, setTitle } from '../ui.js';
import { loadLabels, loadPathTemplates } from '../metadata.js';
import { pickFolder } from './movedialog.js';

export const ALGORITHMS = [
  ['any', 'Any word', 'Any of the words (or "quoted phrases") appears.'],
  ['all', 'All words', 'Every one of the words appears, anywhere.'],
  ['exact', 'Exact phrase', 'The whole text appears as written.'],
  ['regex', 'Regular expression', 'A regular expression (no look-around or back-references; runs in linear time).'],
  ['fuzzy', 'Fuzzy', 'The phrase appears, allowing a few typos or OCR errors.'],
  ['auto', 'Auto (learned)', 'No pattern: the classifier learned from how you filed your documents assigns it when it is sure enough.'],
];
const KINDS = [
  ['tag', 'Tag', 'tag'],
  ['correspondent', 'Correspondent', 'contact'],
  ['document_type', 'Document type', 'fileType'],
  ['folder', 'Folder', 'folder'],
  ['path_template', 'Path template', 'folderTree'],
];
export const algorithmName = (a) => (ALGORITHMS.find(([v]) => v === a) || [a, a])[1];
const kindName = (k) => (KINDS.find(([v]) => v === k) || [k, k])[1];

function targetsOf(kind) {
  if (kind === 'tag') return session.tags;
  if (kind === 'correspondent') return session.labels.correspondents;
  if (kind === 'document_type') return session.labels['document-types'];
  if (kind === 'path_template') return session.pathTemplates || [];
  return [];
}

export async function matchingView() {
  setTitle('Matching rules');
  const main = document.getElementById('main');
  const st = { alive: true, rules: [], folder: null };
  const kind = h('select', { id: 'rule-kind', 'data-testid': 'rule-kind' }, ...KINDS.map(([v, n]) => h('option', { value: v }, n)));
  const target = h('select', { id: 'rule-target', 'data-testid': 'rule-target' });
  const folderBtn = h('button', { type: 'button', class: 'btn', hidden: true, 'data-testid': 'rule-folder' }, icon('folder', 16), 'Choose a folder…');
  const algorithm = h('select', { id: 'rule-algorithm', 'data-testid': 'rule-algorithm' }, ...ALGORITHMS.map(([v, n]) => h('option', { value: v }, n)));
  const help = h('p', { class: 'muted small', id: 'rule-algorithm-help' });
  const pattern = h('input', { id: 'rule-pattern', maxlength: 1000, autocomplete: 'off', placeholder: 'invoice rechnung "total due"', 'aria-describedby': 'rule-algorithm-help', 'data-testid': 'rule-pattern' });
  const insensitive = h('input', { type: 'checkbox', id: 'rule-insensitive', checked: true, 'data-testid': 'rule-insensitive' });
  const sample = h('textarea', { id: 'rule-sample', rows: 3, placeholder: 'Paste a text to try the rule on (or leave empty and give a document number)', 'data-testid': 'rule-sample' });
  const sampleDoc = h('input', { id: 'rule-sample-doc', type: 'number', min: 1, placeholder: 'Document #', class: 'narrow-input', 'data-testid': 'rule-sample-doc' });
  const tryBtn = h('button', { type: 'button', class: 'btn', 'data-testid': 'rule-try' }, 'Try it');
  const tryOut = h('p', { class: 'small', role: 'status', 'data-testid': 'rule-try-result' });
  const err = h('p', { class: 'field-error', role: 'alert', 'data-testid': 'rule-error' });
  const save = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'rule-save' }, icon('check', 16), 'Save rule');

  const fillTargets = () => {
    const k = kind.value;
    folderBtn.hidden = k !== 'folder';
    target.hidden = k === 'folder';
    if (k === 'folder') { folderBtn.lastChild.textContent = st.folder ? `Folder: ${st.folder.name}` : 'Choose a folder…'; return; }
    const items = targetsOf(k);
    put(target, ...(items.length ? items.map((t) => h('option', { value: t.id }, t.name)) : [h('option', { value: '' }, `No ${kindName(k).toLowerCase()}s yet`)]));
  };
  const showHelp = () => {
    help.textContent = (ALGORITHMS.find(([v]) => v === algorithm.value) || [])[2] || '';
    const auto = algorithm.value === 'auto';
    pattern.disabled = auto; insensitive.disabled = auto; tryBtn.disabled = auto;
    pattern.placeholder = auto ? 'Learned from your filing' : 'invoice rechnung "total due"';
    if (auto) pattern.value = '';
  };
  // The classifier does not learn path templates: no "auto" for them.
  const autoOption = () => algorithm.querySelector('option[value="auto"]');
  const syncAuto = () => {
    const noAuto = kind.value === 'path_template';
    autoOption().disabled = noAuto;
    if (noAuto && algorithm.value === 'auto') { algorithm.value = 'any'; showHelp(); }
  };
  kind.addEventListener('change', fillTargets);
  kind.addEventListener('change', syncAuto);
  algorithm.addEventListener('change', showHelp);
  folderBtn.addEventListener('click', async () => {
    const f = await pickFolder({ title: 'Rule for which folder?', confirmLabel: 'Choose this folder' });
    if (f) { st.folder = f; fillTargets(); }
  });
  const ruleBody = () => ({ algorithm: algorithm.value, pattern: pattern.value, insensitive: insensitive.checked });
  tryBtn.addEventListener('click', async () => {
    tryOut.textContent = '';
    const body = ruleBody();
    if (sample.value.trim()) body.text = sample.value;
    else if (sampleDoc.value) body.document_id = Number(sampleDoc.value);
    else { tryOut.textContent = 'Paste a text or give a document number first.'; return; }
    try {
      const r = await post('/match-rules/try', body);
      tryOut.className = `small ${r.matches ? 'ok-text' : 'muted'}`;
      tryOut.textContent = r.matches ? `It matches: found “${r.found}”.` : 'It does not match.';
    } catch (ex) { tryOut.className = 'small field-error'; tryOut.textContent = ex.message; }
  });

  const form = h('form', { class: 'card', 'aria-labelledby': 'rule-form-h', 'data-testid': 'rule-form' },
    h('h2', { id: 'rule-form-h' }, 'Add or change a rule'),
    h('div', { class: 'form-row' },
      h('div', { class: 'field' }, h('label', { for: 'rule-kind' }, 'For a'), kind),
      h('div', { class: 'field grow' }, h('label', { for: 'rule-target' }, 'Which one'), target, folderBtn)),
    h('div', { class: 'form-row' },
      h('div', { class: 'field' }, h('label', { for: 'rule-algorithm' }, 'Match'), algorithm),
      h('div', { class: 'field grow' }, h('label', { for: 'rule-pattern' }, 'Pattern'), pattern),
      h('label', { class: 'check-label', for: 'rule-insensitive' }, insensitive, ' Ignore case')),
    help,
    h('details', { class: 'rule-try' }, h('summary', null, 'Try it before saving'),
      sample, h('div', { class: 'form-row' }, sampleDoc, tryBtn), tryOut),
    err, h('div', { class: 'form-row' }, save));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    const k = kind.value;
    const id = k === 'folder' ? st.folder && st.folder.id : Number(target.value);
    if (!id) { err.textContent = k === 'folder' ? 'Choose a folder.' : `Choose a ${kindName(k).toLowerCase()}.`; return; }
    if (algorithm.value !== 'auto' && !pattern.value.trim()) { err.textContent = 'Enter a pattern.'; pattern.focus(); return; }
    save.disabled = true;
    try {
      const r = await request('PUT', `/match-rules/${k}/${id}`, { body: ruleBody() });
      toast(`Saved the rule of “${r.target_name}”.`);
      pattern.value = ''; tryOut.textContent = '';
      await reload();
    } catch (ex) { err.textContent = ex.message; } finally { save.disabled = false; }
  });

  const rerun = h('button', { type: 'button', class: 'btn', 'data-testid': 'rules-rerun' }, icon('refresh', 16), 'Run all rules on every document');
  rerun.addEventListener('click', async () => {
    const ok = await confirmDialog({ title: 'Run the rules again?', message: 'Every document gets the tags whose rules match it, and a correspondent, type or (if it is in the Inbox) folder where it has none. Nothing you set is replaced.', confirmLabel: 'Run them' });
    if (!ok) return;
    try {
      const r = await post('/documents/bulk', { query: '', edit: { rematch: true } });
      toast(r.job_id ? `Matching ${plural(r.documents, 'document', 'documents')}… (job ${r.job_id})` : 'There are no documents yet.');
    } catch (ex) { toastError(ex); }
  });

  const body = h('div', { class: 'card tags-card' }, spinner());
  const learned = classifierCard();
  put(main, h('section', { class: 'labels-view narrow', 'aria-labelledby': 'rules-title', 'data-testid': 'rules-page' },
    h('div', { class: 'view-head' }, h('div', { class: 'head-row' },
      h('h1', { class: 'view-title', id: 'rules-title' }, icon('rules', 22), h('span', null, 'Matching rules')),
      h('div', { class: 'toolbar' }, rerun))),
    h('p', { class: 'muted small' }, 'When a document has been read, each rule that matches its text files it: a tag is added; a correspondent, type, folder or path template is set where the document has none (a folder only while it is in the Inbox). Its history says which rule did what.'),
    learned.el, form, body));

  const edit = (r) => {
    kind.value = r.kind; fillTargets(); syncAuto();
    if (r.kind === 'folder') { st.folder = { id: r.target_id, name: r.target_name }; fillTargets(); } else target.value = String(r.target_id);
    algorithm.value = r.algorithm; showHelp();
    pattern.value = r.pattern; insensitive.checked = !!r.insensitive;
    pattern.focus();
  };
  const remove = async (r) => {
    const ok = await confirmDialog({ title: 'Remove the rule?', message: `${kindName(r.kind)} “${r.target_name}” will no longer be assigned by its text. Documents keep what they have.`, confirmLabel: 'Remove', danger: true });
    if (!ok) return;
    try { await del(`/match-rules/${r.kind}/${r.target_id}`); toast('Rule removed.'); await reload(); } catch (ex) { toastError(ex); }
  };

  function render() {
    if (!st.alive) return;
    if (!st.rules.length) {
      put(body, emptyState('rules', 'No rules yet', 'Add one above: documents that match get filed as they arrive.'));
      return;
    }
    const rows = st.rules.map((r) => {
      const editBtn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'rule-edit' }, icon('edit', 14), 'Edit');
      const rmBtn = h('button', { type: 'button', class: 'btn btn-small btn-danger-soft', 'data-testid': 'rule-remove' }, icon('trash', 14), 'Remove');
      editBtn.addEventListener('click', () => edit(r));
      rmBtn.addEventListener('click', () => remove(r));
      return h('tr', { 'data-testid': 'rule-row', 'data-kind': r.kind, 'data-name': r.target_name },
        h('td', { class: 'rule-target' }, h('span', { class: 'rule-target-name' }, icon((KINDS.find(([v]) => v === r.kind) || [])[2] || 'tag', 16), h('strong', null, r.target_name)), h('span', { class: 'muted small' }, kindName(r.kind))),
        h('td', null, algorithmName(r.algorithm)),
        h('td', null, r.algorithm === 'auto' ? h('span', { class: 'muted small' }, 'learned from your filing') : h('code', { class: 'rule-pattern' }, r.pattern)),
        h('td', { class: 'small muted' }, r.insensitive ? 'any case' : 'case as written'),
        h('td', { class: 'row-actions' }, editBtn, rmBtn));
    });
    put(body, h('div', { class: 'table-wrap' }, h('table', { class: 'table rules-table', 'data-testid': 'rules-table' },
      h('thead', null, h('tr', null, h('th', null, 'Files into'), h('th', null, 'Match'), h('th', null, 'Pattern'), h('th', null, 'Case'), h('th', null, h('span', { class: 'sr-only' }, 'Actions')))),
      h('tbody', null, ...rows))));
  }

  async function reload() {
    try {
      const r = await get('/match-rules');
      st.rules = r.items || [];
      render();
    } catch (ex) { put(body, errorBox(ex, reload)); }
  }

  await Promise.all([loadTags(), loadLabels('correspondents'), loadLabels('document-types'), loadPathTemplates()]).catch(() => {});
  fillTargets(); showHelp();
  learned.refresh();
  await reload();
  return () => { st.alive = false; };
}

const FIELD_NAMES = { correspondent: 'Correspondent', document_type: 'Type', folder: 'Folder', tag: 'Tags' };

// The auto classifier's state: when it learned, from how many documents, how well each field
// did on documents held out of the training; "Train now".
function classifierCard() {
  const el = h('section', { class: 'card classifier-card', 'aria-labelledby': 'classifier-h', 'data-testid': 'classifier' });
  const train = h('button', { type: 'button', class: 'btn', 'data-testid': 'classifier-train' }, icon('refresh', 16), 'Train now');
  const status = h('div', { 'data-testid': 'classifier-status', role: 'status' });
  train.addEventListener('click', async () => {
    train.disabled = true;
    try {
      const r = await post('/classifier/train', {});
      if (!r.job_id) { toast('A training is already queued.'); return; }
      status.textContent = 'Training…';
      for (let i = 0; i < 600; i++) {
        const j = await get(`/jobs/${r.job_id}`);
        if (j.state === 'done') { toast('The classifier learned from your filing.'); break; }
        if (j.state === 'failed') { toast(j.last_error || 'The training failed.'); break; }
        await new Promise((res) => setTimeout(res, 500));
      }
    } catch (ex) { toastError(ex); } finally { train.disabled = false; await refresh(); }
  });
  put(el, h('div', { class: 'sec-head' }, h('h2', { id: 'classifier-h' }, 'Auto: learned from your filing'), train), status);

  async function refresh() {
    try {
      const r = await get('/classifier');
      const m = r.model;
      if (!m) {
        put(status, h('p', { class: 'muted small' }, `Not trained yet. It learns from documents you have filed (at least ${r.min_documents}), `,
          r.train_every_minutes ? `checking every ${r.train_every_minutes} minutes for changes.` : 'when you press “Train now”.'));
        return;
      }
      const pct = (x) => (x == null ? h('span', { class: 'muted', title: 'Fewer than 40 documents: none were held out to measure it' }, 'not measured') : `${Math.round(x * 100)} %`);
      const took = m.train_ms < 1000 ? `${m.train_ms} ms` : `${(m.train_ms / 1000).toFixed(1)} s`;
      put(status,
        h('p', { class: 'small' }, `Learned from ${plural(m.documents, 'document', 'documents')} on ${fmtDateTime(m.created_at)} (in ${took}). `,
          `Rules set to “Auto” assign what it is at least ${Math.round(r.apply_confidence * 100)} % sure of; documents show suggestions from ${Math.round(r.suggest_confidence * 100)} %.`),
        h('table', { class: 'table classifier-table', 'data-testid': 'classifier-fields' },
          h('thead', null, h('tr', null, h('th', null, 'Field'), h('th', null, 'Knows'), h('th', null, 'Right on held-out documents'))),
          h('tbody', null, ...(m.fields || []).map((f) => h('tr', { dataset: { kind: f.kind } },
            h('td', null, FIELD_NAMES[f.kind] || f.kind),
            h('td', null, `${f.labels} from ${plural(f.examples, 'document', 'documents')}`),
            h('td', null, pct(f.held_out_accuracy)))))));
    } catch (ex) { put(status, h('p', { class: 'field-error' }, ex.message)); }
  }
  return { el, refresh };
}
