// Tags: the user's tags with their document counts; create, rename, recolour, merge, delete.
import { h, icon, iconButton, tagChip, plural, safeColor, put } from '../dom.js';
import { post, patch, del, on, session, loadTags, emit } from '../api.js';
import { href } from '../router.js';
import { toast, toastError, confirmDialog, promptDialog, modal, spinner, errorBox, emptyState, setTitle } from '../ui.js';
import { tagQuery } from '../common.js';

const PALETTE = ['#4f7df0', '#2fa37a', '#e0a526', '#e05a4f', '#9b5de5', '#00a6c4', '#f07fb6', '#6b7a90'];
const docCount = (t) => (Number.isFinite(t.document_count) ? t.document_count : 0);

function validateTagName(v) {
  if (!v) return 'Enter a name.';
  if (v.length > 100) return 'Tag names can be at most 100 characters.';
  if (v.includes(',')) return 'Tag names cannot contain commas.';
  return null;
}

export async function tagsView() {
  setTitle('Tags');
  const main = document.getElementById('main');
  const st = { alive: true };

  const name = h('input', { id: 'new-tag-name', required: true, maxlength: 100, autocomplete: 'off', placeholder: 'e.g. taxes 2026', 'data-testid': 'new-tag-name' });
  const color = h('input', { id: 'new-tag-color', type: 'color', value: PALETTE[session.tags.length % PALETTE.length], 'data-testid': 'new-tag-color' });
  const err = h('p', { class: 'field-error', role: 'alert', 'data-testid': 'new-tag-error' });
  const createBtn = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'new-tag-submit' }, icon('plus', 16), 'Create tag');
  const form = h('form', { class: 'card form-inline', 'aria-labelledby': 'new-tag-h' },
    h('h2', { id: 'new-tag-h' }, 'New tag'),
    h('div', { class: 'form-row' },
      h('div', { class: 'field grow' }, h('label', { for: 'new-tag-name' }, 'Name'), name),
      h('div', { class: 'field' }, h('label', { for: 'new-tag-color' }, 'Colour'), color),
      createBtn),
    err);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    const n = name.value.trim();
    const bad = validateTagName(n);
    if (bad) { err.textContent = bad; name.focus(); return; }
    createBtn.disabled = true;
    try {
      const t = await post('/tags', { name: n, color: color.value });
      name.value = '';
      color.value = PALETTE[(session.tags.length + 1) % PALETTE.length];
      toast(`Created tag “${t.name}”.`);
      await reload();
    } catch (ex) { err.textContent = ex.message; } finally { createBtn.disabled = false; }
  });

  const body = h('div', { class: 'card tags-card' }, spinner());
  put(main, h('section', { class: 'tags-view narrow', 'aria-labelledby': 'tags-title' },
    h('div', { class: 'view-head' }, h('h1', { class: 'view-title', id: 'tags-title' }, icon('tag', 22), h('span', null, 'Tags'))),
    h('p', { class: 'muted small' }, 'Tags label documents across folders. To tag many documents at once, select them in a folder or under Recent and choose “Tag…”.'),
    form, body));

  async function reload() {
    await loadTags();
    emit('tags-changed');
  }

  function render() {
    if (!st.alive) return;
    const tags = session.tags;
    if (!tags.length) {
      put(body, emptyState('tag', 'No tags yet', 'Create one above, or add one to a document from its page.'));
      return;
    }
    const rows = tags.map((t) => {
      const c = docCount(t);
      const swatch = h('input', { type: 'color', value: safeColor(t.color), 'aria-label': `Colour of ${t.name}`, title: 'Change the colour', 'data-testid': 'tag-color-input' });
      swatch.addEventListener('change', () => recolour(t, swatch.value));
      return h('tr', { 'data-testid': 'tag-row', 'data-tag-id': t.id, 'data-tag-name': t.name },
        h('td', { class: 'tag-swatch' }, swatch),
        h('td', { class: 'tag-name-cell' }, tagChip(t)),
        h('td', { class: 'tag-count' },
          c ? h('a', { href: href('/search', { q: tagQuery(t.name) }), 'data-testid': 'tag-count' }, plural(c, 'document', 'documents'))
            : h('span', { class: 'muted', 'data-testid': 'tag-count' }, 'No documents')),
        h('td', { class: 'actions' },
          h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'tag-rename', onclick: () => rename(t) }, icon('edit', 14), h('span', null, 'Rename')),
          h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'tag-merge', disabled: tags.length < 2, title: tags.length < 2 ? 'Create another tag to merge into' : `Move the documents of “${t.name}” to another tag`, onclick: () => merge(t) }, icon('move', 14), h('span', null, 'Merge into…')),
          h('button', { type: 'button', class: 'btn btn-small btn-danger-soft', 'data-testid': 'tag-delete', onclick: () => remove(t) }, icon('trash', 14), h('span', null, 'Delete'))));
    });
    put(body, h('div', { class: 'table-wrap' }, h('table', { class: 'table tags-table', 'data-testid': 'tags-table' },
      h('caption', { class: 'sr-only' }, 'Your tags'),
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Colour')), h('th', { scope: 'col' }, 'Tag'),
        h('th', { scope: 'col' }, 'Documents'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
      h('tbody', null, rows))),
    h('p', { class: 'muted small list-foot' }, plural(tags.length, 'tag', 'tags')));
  }

  async function recolour(t, value) {
    try {
      await patch(`/tags/${t.id}`, { color: value });
      toast(`“${t.name}” has a new colour.`);
      await reload();
    } catch (e) { toastError(e); render(); }
  }

  async function rename(t) {
    const r = await promptDialog({
      title: `Rename tag “${t.name}”`, label: 'New name', value: t.name, confirmLabel: 'Rename', testid: 'rename-tag',
      validate: validateTagName,
      submit: (v) => (v === t.name ? Promise.resolve(t) : patch(`/tags/${t.id}`, { name: v })),
    });
    if (!r) return;
    if (r.name !== t.name) toast(`Renamed to “${r.name}”.`);
    await reload().catch(toastError);
  }

  async function merge(t) {
    const others = session.tags.filter((x) => x.id !== t.id);
    if (!others.length) return;
    const c = docCount(t);
    const result = await modal({
      title: `Merge “${t.name}” into another tag`, testid: 'merge-tag-dialog',
      build: (close) => {
        const sel = h('select', { id: 'merge-into', 'data-testid': 'merge-into' },
          others.map((o) => h('option', { value: String(o.id) }, `${o.name} (${plural(docCount(o), 'document', 'documents')})`)));
        const explain = h('p', { class: 'muted small', 'data-testid': 'merge-explain' });
        const ferr = h('p', { class: 'field-error', role: 'alert', 'data-testid': 'merge-error' });
        const ok = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'merge-confirm' }, 'Merge');
        const sync = () => {
          const o = others.find((x) => String(x.id) === sel.value);
          explain.textContent = `${c ? `The ${plural(c, 'document', 'documents')} tagged “${t.name}” (and any folders) get “${o.name}” instead.` : `No document carries “${t.name}”.`} Then “${t.name}” is deleted. This cannot be undone.`;
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
              const r = await post(`/tags/${t.id}/merge`, { into });
              close(r || others.find((x) => x.id === into));
            } catch (ex) { ferr.textContent = ex.message; ok.disabled = false; }
          },
        },
        h('label', { for: 'merge-into' }, `Merge “${t.name}” into`), sel, explain, ferr,
        h('div', { class: 'dialog-actions' }, h('button', { type: 'button', class: 'btn', onclick: () => close(undefined) }, 'Cancel'), ok));
      },
    });
    if (!result) return;
    toast(`Merged “${t.name}” into “${result.name || 'the other tag'}”.`);
    await reload().catch(toastError);
  }

  async function remove(t) {
    const c = docCount(t);
    const ok = await confirmDialog({
      title: `Delete tag “${t.name}”?`, testid: 'delete-tag-dialog', danger: true, confirmLabel: 'Delete tag',
      message: c
        ? `“${t.name}” is on ${plural(c, 'document', 'documents')}. The tag is removed from ${c === 1 ? 'it' : 'them'}; the documents themselves stay.`
        : `No document carries “${t.name}”.`,
    });
    if (!ok) return;
    try {
      await del(`/tags/${t.id}`);
      toast(`Deleted tag “${t.name}”.`);
      await reload();
    } catch (e) { toastError(e); }
  }

  const off = on('tags', render);
  try {
    await loadTags();
    render();
  } catch (e) {
    put(body, errorBox(e, () => tagsView()));
  }
  return () => { st.alive = false; off(); };
}
