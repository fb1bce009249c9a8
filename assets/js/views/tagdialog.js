// "Tag…" for a selection of documents: add and/or remove tags on all of them at once.
// Each tag's box shows what the selection has now (ticked: all, dash: some, empty: none);
// clicking cycles it, and only the boxes that changed are sent.
import { h, icon, tagChip, plural, put } from '../dom.js';
import { post, session, loadTags, emit } from '../api.js';
import { modal } from '../ui.js';

const CHUNK = 1000;
const PALETTE = ['#4f7df0', '#2fa37a', '#e0a526', '#e05a4f', '#9b5de5', '#00a6c4', '#f07fb6', '#6b7a90'];

/** docs: [{id, title, tags:[{id}]}]. Resolves {updated, added, removed} or undefined (cancelled). */
export function bulkTagDialog(docs, { note } = {}) {
  const n = docs.length;
  return modal({
    title: `Tag ${plural(n, 'document', 'documents')}`, testid: 'bulk-tag-dialog', wide: true,
    build: (close) => {
      const has = new Map(); // tag id → how many selected documents carry it
      for (const d of docs) for (const t of d.tags || []) has.set(t.id, (has.get(t.id) || 0) + 1);
      const initial = (id) => { const c = has.get(id) || 0; return c === 0 ? 'none' : c === n ? 'all' : 'some'; };
      const want = new Map(); // tag id → 'all' | 'none' | 'some' (only entries the user touched)
      const stateOf = (id) => want.get(id) || initial(id);

      const filter = h('input', { id: 'bulk-tag-filter', type: 'search', placeholder: 'Find or create a tag', autocomplete: 'off', 'data-testid': 'bulk-tag-filter', maxlength: 100 });
      const list = h('ul', { class: 'bulk-tags', 'data-testid': 'bulk-tag-list', 'aria-label': 'Tags' });
      const createRow = h('div', { class: 'bulk-create', hidden: true });
      const err = h('p', { class: 'field-error', role: 'alert', 'data-testid': 'bulk-tag-error' });
      const changes = h('p', { class: 'muted small bulk-changes', 'aria-live': 'polite', 'data-testid': 'bulk-tag-changes' });
      const apply = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'bulk-tag-apply', disabled: true }, 'Apply');

      function changed() {
        const add = []; const remove = [];
        for (const [id, s] of want) {
          if (s === initial(id)) continue;
          if (s === 'all') add.push(id); else if (s === 'none') remove.push(id);
        }
        return { add, remove };
      }
      const nameOf = (id) => (session.tags.find((t) => t.id === id) || { name: `#${id}` }).name;
      function syncChanges() {
        const { add, remove } = changed();
        const s = changeText(add.map(nameOf), remove.map(nameOf), n);
        changes.textContent = s ? `${s}` : 'Tick a tag to add it to every selected document, untick it to remove it.';
        apply.disabled = !(add.length || remove.length);
      }

      function cycle(id) {
        const s = stateOf(id);
        const next = initial(id) === 'some' ? ({ some: 'all', all: 'none', none: 'some' })[s] : (s === 'all' ? 'none' : 'all');
        want.set(id, next);
      }

      function render() {
        const q = filter.value.trim().toLowerCase();
        const tags = session.tags.filter((t) => !q || t.name.toLowerCase().includes(q));
        put(list, tags.length ? tags.map((t) => {
          const s = stateOf(t.id);
          const box = h('input', { type: 'checkbox', id: `bt-${t.id}`, 'data-testid': 'bulk-tag-check', dataset: { tagId: t.id, state: s } });
          box.checked = s === 'all';
          box.indeterminate = s === 'some';
          box.addEventListener('click', (e) => { e.preventDefault(); cycle(t.id); setTimeout(() => { render(); syncChanges(); const b = list.querySelector(`#bt-${t.id}`); if (b) b.focus(); }, 0); });
          const c = has.get(t.id) || 0;
          const now = c === 0 ? '' : c === n ? (n === 1 ? 'on it' : 'on all') : `on ${c} of ${n}`;
          const after = s === initial(t.id) ? '' : s === 'all' ? 'will be added' : s === 'none' ? 'will be removed' : '';
          return h('li', { class: `bulk-tag${after ? ' changed' : ''}`, 'data-testid': 'bulk-tag-row', dataset: { tagId: t.id } },
            box, h('label', { for: `bt-${t.id}` }, tagChip(t)),
            h('span', { class: 'muted small' }, [now, after].filter(Boolean).join(' · ')));
        }) : h('li', { class: 'muted small bulk-empty' }, session.tags.length ? 'No tag matches.' : 'You have no tags yet: type a name above to create one.'));
        const exact = session.tags.some((t) => t.name.toLowerCase() === q);
        createRow.hidden = !q || exact;
        if (!createRow.hidden) {
          put(createRow, h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'bulk-tag-create', onclick: createTag }, icon('plus', 14), `Create tag “${filter.value.trim()}” and add it`));
        }
      }

      async function createTag() {
        const name = filter.value.trim();
        if (!name) return;
        err.textContent = '';
        try {
          const t = await post('/tags', { name, color: PALETTE[session.tags.length % PALETTE.length] });
          await loadTags().catch(() => { session.tags = [...session.tags, t]; });
          emit('tags-changed');
          want.set(t.id, 'all');
          filter.value = '';
          render(); syncChanges();
        } catch (e) { err.textContent = e.message; }
      }

      filter.addEventListener('input', render);
      filter.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); if (!createRow.hidden) createTag(); } });

      const form = h('form', {
        class: 'form',
        onsubmit: async (e) => {
          e.preventDefault();
          const { add, remove } = changed();
          if (!add.length && !remove.length) return;
          err.textContent = '';
          apply.disabled = true; apply.textContent = 'Applying…';
          let updated = 0;
          try {
            const ids = docs.map((d) => d.id);
            for (let i = 0; i < ids.length; i += CHUNK) {
              const r = await post('/documents/tags', { documents: ids.slice(i, i + CHUNK), add, remove });
              updated += r && Number.isFinite(r.updated) ? r.updated : Math.min(CHUNK, ids.length - i);
            }
            emit('tags-changed');
            close({ updated, added: add.map(nameOf), removed: remove.map(nameOf) });
          } catch (ex) {
            err.textContent = updated ? `${ex.message} (${plural(updated, 'document was', 'documents were')} changed before the error.)` : ex.message;
            apply.disabled = false; apply.textContent = 'Apply';
          }
        },
      },
      note ? h('p', { class: 'muted small' }, note) : null,
      h('label', { for: 'bulk-tag-filter', class: 'sr-only' }, 'Find or create a tag'), filter, createRow, list, changes, err,
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'btn', onclick: () => close(undefined) }, 'Cancel'), apply));
      render(); syncChanges();
      setTimeout(() => filter.focus(), 0);
      return form;
    },
    onOpen: () => {},
  });
}

/** "Add “a” to 2 documents." / "Remove “b” from 1 document." / "Add “a” and remove “b” on 2 documents." */
function changeText(added, removed, n, past = false) {
  if (!added.length && !removed.length) return '';
  const q = (names) => names.map((x) => `“${x}”`).join(', ');
  const [a, r] = past ? ['Added', 'removed'] : ['Add', 'remove'];
  const docs = plural(n, 'document', 'documents');
  if (added.length && removed.length) return `${a} ${q(added)} and ${r} ${q(removed)} on ${docs}.`;
  if (added.length) return `${a} ${q(added)} to ${docs}.`;
  return `${r.charAt(0).toUpperCase()}${r.slice(1)} ${q(removed)} from ${docs}.`;
}

/** The toast after a bulkTagDialog: "Added “a” to 2 documents." */
export function bulkTagMessage(r) { return changeText(r.added, r.removed, r.updated, true); }
