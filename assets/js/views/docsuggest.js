// Suggestions of the auto classifier (#23) on a document's page: what the model learned from
// the user's own filing suggests and the document does not have yet, each with how sure it is
// and the words behind it, accepted with one click. Hidden when there is nothing to suggest.
import { h, icon, put } from '../dom.js';
import { get, post, patch, emit } from '../api.js';
import { toast, toastError } from '../ui.js';

const KIND_NAMES = { correspondent: 'Correspondent', document_type: 'Type', folder: 'Folder', tag: 'Tag' };
const KIND_ICONS = { correspondent: 'contact', document_type: 'fileType', folder: 'folder', tag: 'tag' };

export function suggestionsPanel({ docId, getDoc, onAccepted }) {
  const el = h('section', { class: 'side-sec suggest-sec', hidden: true, 'data-testid': 'suggestions', 'aria-labelledby': 'suggest-h' });
  let seq = 0;

  async function accept(s, btn) {
    btn.disabled = true;
    try {
      let doc;
      if (s.kind === 'tag') { doc = await post(`/documents/${docId}/tags`, { tag_ids: [s.target_id] }); emit('tags-changed'); }
      else if (s.kind === 'folder') doc = await patch(`/documents/${docId}`, { folder_id: s.target_id });
      else doc = await patch(`/documents/${docId}`, { [`${s.kind}_id`]: s.target_id });
      toast(`${KIND_NAMES[s.kind]} “${s.name}” set.`);
      onAccepted(doc);
    } catch (ex) { toastError(ex); btn.disabled = false; }
  }

  function render(items) {
    el.hidden = !items.length;
    if (!items.length) { put(el); return; }
    put(el,
      h('div', { class: 'sec-head' }, h('h2', { id: 'suggest-h' }, icon('rules', 16), 'Suggestions')),
      h('p', { class: 'muted small' }, 'Learned from how you filed your documents.'),
      h('ul', { class: 'suggest-list' }, items.map((s) => {
        const btn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'suggestion-accept', 'aria-label': `Accept ${KIND_NAMES[s.kind].toLowerCase()} ${s.name}` }, icon('check', 14), 'Accept');
        btn.addEventListener('click', () => accept(s, btn));
        const pct = Math.round(s.confidence * 100);
        return h('li', { class: 'suggest-item', 'data-testid': 'suggestion', dataset: { kind: s.kind, name: s.name } },
          h('span', { class: 'suggest-what' },
            icon(KIND_ICONS[s.kind] || 'tag', 14),
            h('span', { class: 'muted small' }, KIND_NAMES[s.kind] || s.kind),
            h('strong', null, s.name),
            h('span', { class: `suggest-conf${pct >= 80 ? ' sure' : ''}`, title: 'How sure the classifier is' }, `${pct} %`)),
          s.words && s.words.length ? h('span', { class: 'suggest-why small muted', 'data-testid': 'suggestion-why' }, 'because of ', s.words.map((w, i) => [i ? ', ' : '', h('q', null, w)])) : null,
          btn);
      })));
  }

  async function refresh() {
    const d = getDoc();
    const mine = ++seq;
    if (!d || d.trashed_at || d.state !== 'ready') { render([]); return; }
    try {
      const r = await get(`/documents/${docId}/suggestions`);
      if (mine === seq) render(r.items || []);
    } catch { if (mine === seq) render([]); }
  }

  return { el, refresh };
}
