// Notes on a document: newest first, who wrote them and when; anyone who can see the document
// adds one; only a note's author edits or deletes it (the server's `editable`).
import { h, icon, fmtDateTime, plural, put } from '../dom.js';
import { get, post, patch, del } from '../api.js';
import { toast, toastError, confirmDialog, spinner } from '../ui.js';

const MAX = 20000;

export function notesPanel({ docId, onChange = () => {} }) {
  const st = { items: [], loaded: false, editing: null, pending: false, again: false, readOnly: false };
  const count = h('span', { class: 'muted small', 'data-testid': 'notes-count' });
  const list = h('ol', { class: 'notes', 'data-testid': 'notes-list', 'aria-label': 'Notes' });
  const input = h('textarea', { id: `note-new-${docId}`, rows: 3, maxlength: MAX, placeholder: 'Write a note…', 'data-testid': 'note-input' });
  const addBtn = h('button', { type: 'submit', class: 'btn btn-small btn-primary', 'data-testid': 'note-add', disabled: true }, icon('plus', 14), 'Add note');
  const err = h('p', { class: 'field-error', role: 'alert', 'data-testid': 'note-error' });
  const mac = /Mac|iPhone|iPad/.test(navigator.platform || '');
  const composer = h('form', { class: 'note-form', 'aria-label': 'Add a note' },
    h('label', { for: `note-new-${docId}`, class: 'sr-only' }, 'New note'), input, err,
    h('div', { class: 'note-actions' }, h('span', { class: 'muted small' }, `${mac ? '⌘' : 'Ctrl'}+Enter adds`), addBtn));
  const el = h('section', { class: 'side-sec notes-sec', 'data-testid': 'notes', 'aria-labelledby': 'notes-h' },
    h('div', { class: 'sec-head' }, icon('note', 16), h('h2', { id: 'notes-h' }, 'Notes'), count),
    composer, list);

  input.addEventListener('input', () => { addBtn.disabled = !input.value.trim(); err.textContent = ''; });
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); composer.requestSubmit(); } });
  composer.addEventListener('submit', async (e) => {
    e.preventDefault();
    const body = input.value.trim();
    if (!body) { input.focus(); return; }
    addBtn.disabled = true;
    try {
      const n = await post(`/documents/${docId}/notes`, { body });
      input.value = '';
      st.items = [n, ...st.items.filter((x) => x.id !== n.id)];
      render();
      toast('Note added.');
      onChange();
    } catch (ex) { err.textContent = ex.message; addBtn.disabled = false; }
    input.focus();
  });

  function noteItem(n) {
    const who = n.author ? n.author.username : 'a deleted user';
    const edited = n.updated_at && n.created_at && n.updated_at !== n.created_at;
    const bodyEl = h('p', { class: 'note-body', 'data-testid': 'note-body' }, n.body);
    const li = h('li', { class: 'note', 'data-testid': 'note', dataset: { noteId: n.id } },
      h('div', { class: 'note-head' },
        h('strong', { class: 'note-author' }, who),
        h('time', { class: 'muted small', datetime: n.created_at, title: edited ? `Edited ${fmtDateTime(n.updated_at)}` : '' }, fmtDateTime(n.created_at)),
        edited ? h('span', { class: 'muted small', 'data-testid': 'note-edited' }, '· edited') : null,
        n.editable && !st.readOnly ? h('span', { class: 'note-tools' },
          h('button', { type: 'button', class: 'link-btn small', 'data-testid': 'note-edit', 'aria-label': `Edit your note from ${fmtDateTime(n.created_at)}`, onclick: () => edit(n, li, bodyEl) }, 'Edit'),
          h('button', { type: 'button', class: 'link-btn small danger-link', 'data-testid': 'note-delete', 'aria-label': `Delete your note from ${fmtDateTime(n.created_at)}`, onclick: () => remove(n) }, 'Delete')) : null),
      bodyEl);
    return li;
  }

  function edit(n, li, bodyEl) {
    if (st.editing) return;
    st.editing = n.id;
    const ta = h('textarea', { rows: Math.min(10, Math.max(3, n.body.split('\n').length + 1)), maxlength: MAX, value: n.body, 'aria-label': 'Note text', 'data-testid': 'note-edit-input' });
    const ferr = h('p', { class: 'field-error', role: 'alert' });
    const save = h('button', { type: 'submit', class: 'btn btn-small btn-primary', 'data-testid': 'note-save' }, 'Save');
    const form = h('form', { class: 'note-form' }, ta, ferr,
      h('div', { class: 'note-actions' }, h('span', { class: 'spacer' }), h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'note-cancel', onclick: () => done() }, 'Cancel'), save));
    const done = () => { st.editing = null; render(); const b = list.querySelector(`[data-note-id="${n.id}"] [data-testid="note-edit"]`); if (b) b.focus(); };
    ta.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); form.requestSubmit(); }
      else if (e.key === 'Escape') { e.preventDefault(); e.stopPropagation(); done(); }
    });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = ta.value.trim();
      if (!body) { ferr.textContent = 'A note cannot be empty: delete it instead.'; return; }
      if (body === n.body) { done(); return; }
      save.disabled = true;
      try {
        const u = await patch(`/documents/${docId}/notes/${n.id}`, { body });
        st.items = st.items.map((x) => (x.id === u.id ? u : x));
        toast('Note saved.');
        done();
        onChange();
      } catch (ex) { ferr.textContent = ex.message; save.disabled = false; }
    });
    bodyEl.replaceWith(form);
    ta.focus();
    ta.setSelectionRange(ta.value.length, ta.value.length);
  }

  async function remove(n) {
    const ok = await confirmDialog({ title: 'Delete this note?', message: `“${n.body.length > 140 ? `${n.body.slice(0, 140)}…` : n.body}” is deleted. The history keeps that it was there.`, confirmLabel: 'Delete note', danger: true, testid: 'delete-note-dialog' });
    if (!ok) return;
    try {
      await del(`/documents/${docId}/notes/${n.id}`);
      st.items = st.items.filter((x) => x.id !== n.id);
      render();
      toast('Note deleted.');
      onChange();
    } catch (e) { toastError(e); }
  }

  function render() {
    if (st.editing) return; // a note being edited stays as it is
    count.textContent = st.items.length ? String(st.items.length) : '';
    put(list, st.items.length ? st.items.map(noteItem) : h('li', { class: 'muted small notes-empty' }, 'No notes yet.'));
  }

  async function refresh() {
    if (st.pending) { st.again = true; return; }
    st.pending = true; st.again = false;
    if (!st.loaded) put(list, h('li', null, spinner('Loading notes')));
    try {
      const r = await get(`/documents/${docId}/notes`);
      st.items = (r.items || []).slice().sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)) || b.id - a.id);
      st.loaded = true;
      render();
    } catch (e) {
      if (!st.loaded) put(list, h('li', { class: 'muted small' }, e.message));
    } finally {
      st.pending = false;
      if (st.again) refresh();
    }
  }

  /** A trashed document is read-only: no new notes, no edits. */
  function setReadOnly(ro) {
    if (st.readOnly === ro) return;
    st.readOnly = ro; composer.hidden = ro;
    if (st.loaded) render();
  }

  return { el, refresh, setReadOnly, count: () => plural(st.items.length, 'note', 'notes') };
}
