// "Edit…" for a selection of documents, or for everything a search or a view matches: add and
// remove tags, set or clear the correspondent, the type and the date, move to a folder, set or
// remove custom fields, reprocess, or (alone) move to the trash. One POST /documents/bulk
// queues one job; the dialog then follows it (bulk.progress events, or GET /jobs/{id} every
// second when those do not come) and ends with what happened: "Changed 130 documents; 2 skipped."
import { h, icon, tagChip, plural, put } from '../dom.js';
import { get, post, on, emit, session } from '../api.js';
import { modal, confirmDialog } from '../ui.js';
import { isLive } from '../ws.js';
import { pickFolder } from './movedialog.js';
import { fieldControl } from './docmeta.js';
import { loadMetadata, fieldDef, kindLabel, fieldText } from '../metadata.js';

// ---- what the websocket says about bulk jobs (it may speak before the POST answers) ----
// Per job: done and total (of the last chunk), changed and skipped summed over its chunks
// (each chunk reports its own; a chunk is known by the `done` it ends at).
const jobs = new Map();
function jobState(id) {
  if (!jobs.has(id)) jobs.set(id, { done: 0, total: null, changed: 0, skipped: 0, chunks: new Set(), fromEvents: false });
  while (jobs.size > 30) jobs.delete(jobs.keys().next().value);
  return jobs.get(id);
}
on('event', (ev) => {
  if (ev.type !== 'bulk.progress' || !ev.data || ev.data.job_id == null) return;
  const d = ev.data;
  const s = jobState(d.job_id);
  if (s.chunks.has(d.done)) return;
  s.chunks.add(d.done);
  s.fromEvents = true;
  s.done = Math.max(s.done, Number(d.done) || 0);
  s.total = Number(d.total) || s.total;
  s.changed += Number(d.changed) || 0;
  s.skipped += Number(d.skipped) || 0;
  emit('bulk-progress', { jobId: d.job_id, ...s });
});

/** "Changed 130 documents; 2 skipped (in the trash or deleted); 5 were already so." */
export function resultText(s, count) {
  if (!s.fromEvents) return `Done: ${plural(s.done || count || 0, 'document', 'documents')} processed.`;
  const parts = [`Changed ${plural(s.changed, 'document', 'documents')}`];
  if (s.skipped) parts.push(`${s.skipped.toLocaleString()} skipped (in the trash or deleted)`);
  const same = Math.max(0, (s.done || 0) - s.changed - s.skipped);
  if (same) parts.push(`${same.toLocaleString()} ${same === 1 ? 'was' : 'were'} already so`);
  return `${parts.join('; ')}.`;
}

/** A list of tags to add (or remove): chips, and a select that adds one more. */
function tagPicker(id, label, testid, onChange) {
  const chosen = [];
  const chips = h('span', { class: 'tag-list bulk-chips', 'data-testid': `${testid}-chips` });
  const sel = h('select', { id, 'data-testid': testid });
  function render() {
    put(chips, chosen.map((tid) => {
      const t = session.tags.find((x) => x.id === tid) || { id: tid, name: `#${tid}` };
      const chip = tagChip(t, { onRemove: () => { chosen.splice(chosen.indexOf(tid), 1); render(); onChange(); sel.focus(); } });
      const x = chip.querySelector('.tag-x');
      x.setAttribute('aria-label', `Take back: ${label.toLowerCase()} ${t.name}`);
      x.title = 'Take back';
      return chip;
    }));
    const free = session.tags.filter((t) => !chosen.includes(t.id));
    put(sel, h('option', { value: '' }, session.tags.length ? (free.length ? `${label}…` : 'Every tag is chosen') : 'No tags yet'),
      free.map((t) => h('option', { value: String(t.id) }, t.name)));
    sel.disabled = !free.length;
  }
  sel.addEventListener('change', () => {
    if (sel.value) chosen.push(Number(sel.value));
    render(); onChange(); sel.focus();
  });
  render();
  return { el: h('div', { class: 'bulk-tagpick' }, sel, chips), render, ids: () => [...chosen], names: () => chosen.map((tid) => (session.tags.find((x) => x.id === tid) || { name: `#${tid}` }).name) };
}

/**
 * target: {documents: [ids]} or {query: "search language"}; count: how many that is (for the
 * words). Resolves {jobId, state, done, changed, skipped} once closed (undefined: cancelled
 * before anything was sent).
 */
export async function bulkEditDialog({ documents, query, count, capped = false }) {
  await loadMetadata();
  const byQuery = !documents;
  const what = byQuery ? (capped ? `all matching documents (more than ${count.toLocaleString()})` : `all ${plural(count, 'matching document', 'matching documents')}`) : plural(documents.length, 'document', 'documents');
  return modal({
    title: `Edit ${what}`, testid: 'bulk-edit-dialog', wide: true,
    build: (close) => {
      let outcome;
      const finish = () => close(outcome);

      const labelSelect = (key, id, testid, none) => h('select', { id, 'data-testid': testid },
        h('option', { value: '' }, 'Keep as it is'), h('option', { value: '__clear' }, none),
        session.labels[key].map((l) => h('option', { value: String(l.id) }, l.name)));
      const corrSel = labelSelect('correspondents', 'be-corr', 'bulk-correspondent', 'Remove the correspondent');
      const typeSel = labelSelect('document-types', 'be-type', 'bulk-doctype', 'Remove the type');
      const dateMode = h('select', { id: 'be-date-mode', 'data-testid': 'bulk-date-mode' },
        h('option', { value: '' }, 'Keep as it is'), h('option', { value: 'set' }, 'Set to…'), h('option', { value: 'clear' }, 'Remove the date'));
      const dateIn = h('input', { id: 'be-date', type: 'date', 'aria-label': 'New date', 'data-testid': 'bulk-date', hidden: true });
      let folder = null;
      const folderName = h('span', { class: 'bulk-folder-name', 'data-testid': 'bulk-folder-name' }, 'Stay where they are');
      const folderBtn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'bulk-folder', id: 'be-folder' }, icon('move', 14), 'Choose a folder…');
      const folderClear = h('button', { type: 'button', class: 'btn btn-small', hidden: true, onclick: () => { folder = null; syncFolder(); sync(); folderBtn.focus(); } }, 'Do not move');
      const syncFolder = () => { folderName.textContent = folder ? `Move to ${folder.name}` : 'Stay where they are'; folderName.classList.toggle('muted', !folder); folderClear.hidden = !folder; };
      syncFolder();
      folderBtn.addEventListener('click', async () => {
        const t = await pickFolder({ title: 'Move to…', confirmLabel: 'Choose this folder' });
        if (t) { folder = t; syncFolder(); sync(); }
        folderBtn.focus();
      });

      const addTags = tagPicker('be-add-tags', 'Add a tag', 'bulk-add-tags', () => sync());
      const removeTags = tagPicker('be-remove-tags', 'Remove a tag', 'bulk-remove-tags', () => sync());

      // custom fields: one row per field to change
      const fieldRows = []; // {def, mode, control, el}
      const fieldList = h('div', { class: 'bulk-fields', 'data-testid': 'bulk-fields' });
      const fieldAdd = h('select', { id: 'be-field-add', 'data-testid': 'bulk-field-add', 'aria-label': 'Change a custom field' });
      function fillFieldAdd() {
        const free = session.fields.filter((f) => !fieldRows.some((r) => r.def.id === f.id));
        put(fieldAdd, h('option', { value: '' }, session.fields.length ? (free.length ? 'Change a custom field…' : 'Every field is listed') : 'No custom fields yet'),
          free.map((f) => h('option', { value: String(f.id) }, `${f.name} (${kindLabel(f.kind)})`)));
        fieldAdd.disabled = !free.length;
      }
      function addFieldRow(def) {
        const mode = h('select', { 'data-testid': 'bulk-field-mode', 'aria-label': `What to do with ${def.name}` },
          h('option', { value: 'set' }, 'Set to'), h('option', { value: 'remove' }, 'Remove from the documents'));
        const control = fieldControl({ field_id: def.id, name: def.name, kind: def.kind, value: def.kind === 'boolean' ? false : null }, def, null);
        const holder = h('div', { class: 'bulk-field-value' }, control.el);
        mode.addEventListener('change', () => { holder.hidden = mode.value === 'remove'; sync(); });
        const r = { def, mode, control };
        r.el = h('div', { class: 'bulk-field-row', 'data-testid': 'bulk-field-row', dataset: { fieldId: def.id } },
          h('div', { class: 'field-head' }, h('label', { for: `mf-${def.id}` }, def.name), h('span', { class: 'muted small field-kind' }, kindLabel(def.kind)),
            h('button', { type: 'button', class: 'btn icon-btn field-remove', 'data-testid': 'bulk-field-remove', 'aria-label': `Do not change ${def.name}`, title: 'Do not change this field', onclick: () => { fieldRows.splice(fieldRows.indexOf(r), 1); r.el.remove(); fillFieldAdd(); sync(); fieldAdd.focus(); } }, icon('close', 16))),
          mode, holder, h('p', { class: 'field-error', id: `mf-${def.id}-err` }));
        fieldRows.push(r);
        fieldList.append(r.el);
        fillFieldAdd();
        control.focus.focus();
      }
      fieldAdd.addEventListener('change', () => {
        const def = fieldAdd.value ? fieldDef(Number(fieldAdd.value)) : null;
        fieldAdd.value = '';
        if (def) addFieldRow(def);
        sync();
      });
      fillFieldAdd();

      const reprocess = h('input', { type: 'checkbox', id: 'be-reprocess', 'data-testid': 'bulk-reprocess' });
      const trash = h('input', { type: 'checkbox', id: 'be-trash', 'data-testid': 'bulk-trash' });
      const rematch = h('input', { type: 'checkbox', id: 'be-rematch', 'data-testid': 'bulk-rematch' });
      // Either one is an edit of its own.
      trash.addEventListener('change', () => { if (trash.checked) rematch.checked = false; });
      rematch.addEventListener('change', () => { if (rematch.checked) trash.checked = false; });
      const summary = h('p', { class: 'muted small bulk-summary', 'aria-live': 'polite', 'data-testid': 'bulk-summary' });
      const err = h('p', { class: 'field-error', role: 'alert', 'data-testid': 'bulk-error' });
      const apply = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'bulk-apply', disabled: true }, 'Apply');
      const editParts = h('div', { class: 'bulk-parts' });

      /** The edit to send, and its description in words. */
      function edit() {
        if (trash.checked) return { edit: { trash: true }, words: ['move them to the trash'] };
        if (rematch.checked) return { edit: { rematch: true }, words: ['run the matching rules over them again (nothing set by hand is replaced)'] };
        const e = {}; const words = [];
        if (addTags.ids().length) { e.add_tags = addTags.ids(); words.push(`add ${addTags.names().map((n) => `“${n}”`).join(', ')}`); }
        if (removeTags.ids().length) { e.remove_tags = removeTags.ids(); words.push(`remove ${removeTags.names().map((n) => `“${n}”`).join(', ')}`); }
        const label = (sel, key, idKey, word) => {
          if (!sel.value) return;
          if (sel.value === '__clear') { e[idKey] = null; words.push(`remove the ${word}`); return; }
          e[idKey] = Number(sel.value);
          words.push(`${word} “${(session.labels[key].find((l) => l.id === e[idKey]) || {}).name}”`);
        };
        label(corrSel, 'correspondents', 'correspondent_id', 'correspondent');
        label(typeSel, 'document-types', 'document_type_id', 'type');
        if (dateMode.value === 'set' && dateIn.value) { e.date = dateIn.value; words.push(`date ${dateIn.value}`); }
        if (dateMode.value === 'clear') { e.date = null; words.push('remove the date'); }
        if (folder) { e.folder_id = folder.id; words.push(`move to ${folder.name}`); }
        const set = fieldRows.filter((r) => r.mode.value === 'set');
        const rm = fieldRows.filter((r) => r.mode.value === 'remove');
        if (set.length) {
          e.fields = set.map((r) => ({ field_id: r.def.id, value: r.control.read() }));
          words.push(`set ${set.map((r) => { const v = r.control.read(); return `${r.def.name} to ${v == null ? 'empty' : `“${fieldText(v, r.def.kind, r.def)}”`}`; }).join(', ')}`);
        }
        if (rm.length) { e.remove_fields = rm.map((r) => r.def.id); words.push(`remove the field${rm.length > 1 ? 's' : ''} ${rm.map((r) => r.def.name).join(', ')}`); }
        if (reprocess.checked) { e.reprocess = true; words.push('process again'); }
        return { edit: e, words };
      }
      let trashWas = false;
      function sync() {
        dateIn.hidden = dateMode.value !== 'set';
        const alone = trash.checked || rematch.checked;
        if (alone !== trashWas) {
          // Moving to the trash (or running the rules) is an edit of its own: the rest is put
          // aside while it is ticked.
          trashWas = alone;
          editParts.classList.toggle('disabled', alone);
          editParts.setAttribute('aria-disabled', String(alone));
          for (const el of editParts.querySelectorAll('input, select, button, textarea')) el.disabled = alone;
          if (!alone) { fillFieldAdd(); addTags.render(); removeTags.render(); }
        }
        const { words } = edit();
        const incomplete = dateMode.value === 'set' && !dateIn.value;
        summary.textContent = words.length ? `For ${what}: ${words.join('; ')}.` : (incomplete ? 'Pick the new date.' : 'Choose what to change. Everything else stays as it is.');
        apply.disabled = !words.length;
        apply.classList.toggle('btn-danger', trash.checked);
        apply.classList.toggle('btn-primary', !trash.checked);
        apply.textContent = trash.checked ? 'Move to trash' : 'Apply';
      }

      const row = (id, label, ...control) => h('div', { class: 'field' }, h('label', { for: id }, label), ...control);
      put(editParts,
        h('div', { class: 'bulk-grid' },
          row('be-add-tags', 'Add tags', addTags.el),
          row('be-remove-tags', 'Remove tags', removeTags.el),
          row('be-corr', 'Correspondent', corrSel),
          row('be-type', 'Document type', typeSel),
          row('be-date-mode', 'Date', h('div', { class: 'bulk-date' }, dateMode, dateIn)),
          row('be-folder', 'Folder', h('div', { class: 'bulk-folder' }, folderBtn, folderName, folderClear))),
        h('h3', { class: 'meta-sub' }, 'Custom fields'),
        fieldList,
        h('div', { class: 'meta-add' }, icon('plus', 14), fieldAdd),
        h('label', { class: 'check-label', for: 'be-reprocess' }, reprocess, 'Process again (text, OCR, thumbnails)'));

      const form = h('form', { class: 'form bulk-form', novalidate: true },
        h('p', { class: 'muted small' }, byQuery
          ? `Changes every document the search matches when the edit runs (${capped ? 'more than ' : ''}${count.toLocaleString()} now).`
          : 'Only what you choose here changes; everything else stays as it is.'),
        editParts,
        h('div', { class: 'bulk-trash-row' },
          h('label', { class: 'check-label', for: 'be-trash' }, trash, icon('trash', 14), 'Move to the trash instead'),
          h('span', { class: 'muted small' }, 'Nothing else changes; they can be restored from the trash.')),
        h('div', { class: 'bulk-trash-row bulk-rematch-row' },
          h('label', { class: 'check-label', for: 'be-rematch' }, rematch, icon('rules', 14), 'Run the matching rules again instead'),
          h('a', { class: 'muted small', href: '#/matching' }, 'Your rules')),
        summary, err,
        h('div', { class: 'dialog-actions' }, h('button', { type: 'button', class: 'btn', onclick: () => close(undefined) }, 'Cancel'), apply));
      form.addEventListener('input', sync);
      form.addEventListener('change', sync);
      sync();

      form.addEventListener('submit', async (e) => {
        e.preventDefault();
        const { edit: body } = edit();
        if (!Object.keys(body).length) return;
        err.textContent = '';
        for (const r of fieldRows) { r.el.querySelector('.field-error').textContent = ''; r.control.focus.removeAttribute('aria-invalid'); }
        if (body.trash) {
          const ok = await confirmDialog({ title: 'Move to trash?', testid: 'bulk-trash-confirm', danger: true, confirmLabel: 'Move to trash',
            message: `${what.charAt(0).toUpperCase()}${what.slice(1)} will be moved to the trash. You can restore them from there.` });
          if (!ok) return;
        }
        apply.disabled = true; apply.textContent = 'Sending…';
        let r;
        try {
          r = await post('/documents/bulk', { ...(byQuery ? { query } : { documents }), edit: body });
        } catch (ex) {
          err.textContent = ex.message;
          const m = /^field\s+"((?:[^"\\]|\\.)*)"/i.exec(ex.message);
          const fr = m && fieldRows.find((x) => x.def.name.toLowerCase() === m[1].toLowerCase());
          if (fr) { const p = fr.el.querySelector('.field-error'); p.textContent = ex.message; fr.control.focus.setAttribute('aria-invalid', 'true'); fr.control.focus.focus(); }
          sync();
          return;
        }
        follow(r, body);
      });

      // ---- after the POST: follow the job ----
      function follow(r, body) {
        const total = Number(r.documents) || 0;
        const bar = h('progress', { max: Math.max(1, total), value: 0, 'data-testid': 'bulk-progress-bar', 'aria-label': 'Progress of the edit' });
        const status = h('p', { class: 'bulk-status', 'data-testid': 'bulk-status', 'aria-live': 'polite' });
        const counts = h('p', { class: 'muted small', 'data-testid': 'bulk-counts' });
        const result = h('p', { class: 'bulk-result', role: 'status', 'data-testid': 'bulk-result', hidden: true });
        const closeBtn = h('button', { type: 'button', class: 'btn', 'data-testid': 'bulk-close', onclick: finish }, 'Close');
        const note = h('p', { class: 'muted small', 'data-testid': 'bulk-note' }, 'You can close this: the edit goes on on the server, and the lists follow.');
        put(form, h('div', { class: 'bulk-progress', 'data-testid': 'bulk-progress' }, status, bar, counts, result, note),
          h('div', { class: 'dialog-actions' }, closeBtn));
        closeBtn.focus();
        if (r.job_id == null) {
          outcome = { jobId: null, state: 'done', done: 0, changed: 0, skipped: 0 };
          bar.hidden = true; note.hidden = true;
          status.textContent = '';
          result.hidden = false;
          result.textContent = 'No document matched: nothing was changed.';
          closeBtn.classList.add('btn-primary');
          return;
        }
        const id = r.job_id;
        const s = jobState(id);
        if (s.total == null) s.total = total;
        outcome = { jobId: id, state: 'queued', done: 0, changed: 0, skipped: 0 };
        let ended = false; let lastEvent = 0;
        status.textContent = body.trash ? `Moving ${plural(total, 'document', 'documents')} to the trash…` : `Changing ${plural(total, 'document', 'documents')}…`;
        function show(state, lastError) {
          const t = s.total || total || 0;
          bar.max = Math.max(1, t);
          bar.value = Math.min(s.done, t);
          counts.textContent = `${s.done.toLocaleString()} of ${plural(t, 'document', 'documents')}`;
          outcome = { jobId: id, state, done: s.done, changed: s.changed, skipped: s.skipped };
          if (state === 'done' || state === 'failed') {
            ended = true;
            stop();
            note.hidden = true;
            result.hidden = false;
            if (state === 'failed') {
              result.classList.add('error-text');
              status.textContent = 'The edit stopped.';
              result.textContent = `${lastError ? `${lastError.charAt(0).toUpperCase()}${lastError.slice(1)}` : 'The job failed.'}${s.done ? ` ${plural(s.done, 'document was', 'documents were')} done before.` : ''}`;
            } else {
              status.textContent = body.trash ? 'Moved to the trash.' : 'Done.';
              result.textContent = resultText(s, t);
              bar.value = bar.max;
            }
            closeBtn.classList.add('btn-primary');
            emit('bulk-done', outcome);
            emit('tags-changed');
            emit('changed', { kind: 'bulk' });
          }
        }
        const offProgress = on('bulk-progress', (p) => {
          if (p.jobId !== id || ended) return;
          lastEvent = Date.now();
          show(s.total && s.done >= s.total ? 'done' : 'running');
        });
        // GET /jobs/{id} every second while the events do not come (or to learn the end state).
        let polling = false;
        const poll = setInterval(async () => {
          if (ended || polling) return;
          if (isLive() && Date.now() - lastEvent < 1500 && !(s.total && s.done >= s.total)) return;
          polling = true;
          try {
            const j = await get(`/jobs/${id}`);
            if (ended) return;
            if (j.progress && !s.fromEvents) { s.done = Number(j.progress.done) || 0; s.total = Number(j.progress.total) || s.total; }
            if (j.state === 'done' || j.state === 'failed') show(j.state, j.last_error);
            else show(j.state === 'running' ? 'running' : 'queued');
          } catch { /* the next tick tries again */ } finally { polling = false; }
        }, 1000);
        const stop = () => { clearInterval(poll); offProgress(); };
        show(s.total && s.fromEvents && s.done >= s.total ? 'done' : 'queued');
        // Closing while it runs stops following (the lists still hear the documents' events).
        form.closest('dialog')?.addEventListener('close', stop, { once: true });
      }
      setTimeout(() => corrSel.focus(), 0);
      return form;
    },
    onOpen: () => {},
  });
}
