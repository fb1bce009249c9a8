// A document's history as a compact timeline, newest first, in words: "alice changed Amount
// from 10.00 EUR to 123.40 EUR", "docmerge found the date 14 March 2025 in the text".
// Twenty entries at a time ("Show older").
import { h, icon, fmtDateTime, fmtDay, plural, put } from '../dom.js';
import { get, session } from '../api.js';
import { href } from '../router.js';
import { spinner } from '../ui.js';
import { fieldText } from '../metadata.js';

const PAGE = 20;

/** Folder names for "moved it from Inbox to Taxes", fetched once per folder. */
const folderNames = new Map();
function folderName(id) {
  if (id == null) return Promise.resolve(null);
  const r = session.roots || {};
  if (r.home && r.home.id === id) return Promise.resolve('Home');
  if (r.inbox && r.inbox.id === id) return Promise.resolve('Inbox');
  if (!folderNames.has(id)) folderNames.set(id, get(`/folders/${id}`).then((f) => f.name).catch(() => null));
  return folderNames.get(id);
}
function folderRef(id) {
  const a = h('a', { href: href(`/folder/${id}`) }, 'a folder');
  folderName(id).then((n) => { if (n) a.textContent = n; });
  return a;
}

const quote = (s, max = 120) => {
  const t = String(s == null ? '' : s).replace(/\s+/g, ' ').trim();
  return `“${t.length > max ? `${t.slice(0, max)}…` : t}”`;
};
const list = (names) => names.map((n) => `“${n}”`).join(', ');
const fieldByName = (name) => session.fields.find((f) => f.name === name) || null;
const valueOf = (name, v) => fieldText(v, null, fieldByName(name)) || 'empty';
const dayOf = (iso) => fmtDay(iso, { long: true }) || String(iso);

/** ": “text”" of a note entry; an edit records [before, after] (which: 1 = after). */
function noteText(text, which) {
  const t = Array.isArray(text) ? text[which] ?? text[text.length - 1] : text;
  return t ? [': ', quote(t)] : '';
}

const PAGE_OPS = {
  rotate: 'rotated pages', delete: 'deleted pages', reorder: 'reordered the pages', move: 'moved pages between this and another document',
  extract: 'copied pages into a new document', merge: 'merged other documents into this one', restore_version: 'restored an earlier version',
};

/** "set", "changed … from … to …" or "removed" for a [before, after] pair of a label or value. */
function changePhrase(what, [before, after], show = (x) => x) {
  if (before == null && after != null) return [`set ${what} to `, h('strong', null, show(after))];
  if (before != null && after == null) return [`removed ${what} `, h('strong', null, show(before))];
  return [`changed ${what} from `, h('strong', null, show(before)), ' to ', h('strong', null, show(after))];
}

/** One history entry as lines of words, each line a list of nodes and strings (after the actor). */
export function describe(entry) {
  const c = entry.changes && typeof entry.changes === 'object' ? entry.changes : {};
  const lines = [];
  switch (entry.action) {
    case 'created':
      if (c.operation === 'extract') lines.push(['made this document from pages of another one']);
      else if (c.operation === 'move') lines.push(['made this document from pages moved out of another one']);
      else if (c.operation) lines.push([`made this document (${c.operation})`]);
      else lines.push(['added the document', c.title ? [' ', quote(c.title)] : '']);
      break;
    case 'edited':
      if (Array.isArray(c.title)) lines.push(['renamed it from ', quote(c.title[0]), ' to ', quote(c.title[1])]);
      if (Array.isArray(c.correspondent)) lines.push(changePhrase('the correspondent', c.correspondent));
      if (Array.isArray(c.document_type)) lines.push(changePhrase('the type', c.document_type));
      if (Array.isArray(c.date)) lines.push(changePhrase('the date', c.date, dayOf));
      if (Array.isArray(c.asn)) lines.push(changePhrase('the ASN', c.asn, String));
      if (Array.isArray(c.folder)) lines.push(['moved it from ', folderRef(c.folder[0]), ' to ', folderRef(c.folder[1])]);
      if (Array.isArray(c.path_template)) lines.push(changePhrase('the path template', c.path_template));
      if (c.tags && typeof c.tags === 'object') {
        const a = c.tags.added || []; const r = c.tags.removed || [];
        if (a.length) lines.push([`added the ${a.length === 1 ? 'tag' : 'tags'} `, list(a)]);
        if (r.length) lines.push([`removed the ${r.length === 1 ? 'tag' : 'tags'} `, list(r)]);
      }
      if (c.fields && typeof c.fields === 'object') {
        for (const [name, pair] of Object.entries(c.fields)) {
          if (!Array.isArray(pair)) continue;
          const [before, after] = pair;
          if (after === '(removed)') lines.push(['removed the field ', h('strong', null, name), before != null ? ` (it was ${valueOf(name, before)})` : '']);
          else if (before == null && after == null) lines.push(['added the field ', h('strong', null, name)]);
          else if (before == null) lines.push(['set ', h('strong', null, name), ' to ', h('strong', null, valueOf(name, after))]);
          else if (after == null) lines.push(['emptied ', h('strong', null, name), ` (it was ${valueOf(name, before)})`]);
          else lines.push(['changed ', h('strong', null, name), ' from ', h('strong', null, valueOf(name, before)), ' to ', h('strong', null, valueOf(name, after))]);
        }
      }
      if (!lines.length) lines.push(['edited the document']);
      break;
    case 'processed':
      lines.push([Number.isFinite(c.pages) ? `processed ${plural(c.pages, 'page', 'pages')}` : 'processed the document']);
      break;
    case 'failed':
      lines.push(['could not process it', c.error ? `: ${c.error}` : '']);
      break;
    case 'trashed': lines.push(['moved it to the trash']); break;
    case 'restored': lines.push(['restored it from the trash']); break;
    case 'reprocessed': lines.push(['asked to process it again']); break;
    case 'pages': lines.push([PAGE_OPS[c.operation] || 'changed the pages']); break;
    case 'note.added': lines.push(['added a note', noteText(c.text, 1)]); break;
    case 'note.edited': lines.push(['edited a note', noteText(c.text, 1)]); break;
    case 'note.deleted': lines.push(['deleted a note', noteText(c.text, 0)]); break;
    case 'date.extracted': {
      const after = Array.isArray(c.date) ? c.date[1] : c.date;
      lines.push(['found the date ', h('strong', null, dayOf(after)), ' in the text']);
      if (c.text || c.rule) lines.push({ sub: true, parts: [c.text ? `It read ${quote(c.text, 60)}` : 'It read a date', c.rule ? ` (rule: ${c.rule}).` : '.'] });
      break;
    }
    case 'matched': {
      // The same changes an edit records, then the rules that made them.
      const edited = describe({ action: 'edited', changes: c }).filter((l) => !(l.length === 1 && l[0] === 'edited the document'));
      lines.push(...(edited.length ? edited : [['filed it by its rules']]));
      for (const r of Array.isArray(c.rules) ? c.rules : []) {
        lines.push({ sub: true, parts: [RULE_KIND[r.kind] || 'Target', ' ', h('strong', null, r.target_name), ` by its rule (${RULE_ALGORITHM[r.algorithm] || r.algorithm} `, h('code', null, String(r.pattern || '').slice(0, 80)), ')', r.found ? [': found ', quote(r.found, 60)] : '', '.'] });
      }
      break;
    }
    case 'placed': {
      // A path template moved it: where to, and by which template.
      const t = c.path_template && typeof c.path_template === 'object' ? c.path_template : {};
      lines.push(['filed it in ', h('strong', null, ['Home', ...String(t.path || '').split('/').filter(Boolean)].join(' / '))]);
      if (t.name) lines.push({ sub: true, parts: ['By the path template ', h('strong', null, t.name), Array.isArray(c.folder) ? [' (from ', folderRef(c.folder[0]), ')'] : '', '.'] });
      break;
    }
    case 'workflow': {
      // A workflow's actions: the same changes an edit records, then which workflow.
      const edited = describe({ action: 'edited', changes: c }).filter((l) => !(l.length === 1 && l[0] === 'edited the document'));
      lines.push(...(edited.length ? edited : [['ran a workflow']]));
      if (c.workflow && c.workflow.name) lines.push({ sub: true, parts: ['By the workflow ', h('strong', null, c.workflow.name), '.'] });
      break;
    }
    case 'llm': {
      // A language model's answer, applied (by a workflow's "apply" action).
      const edited = describe({ action: 'edited', changes: c }).filter((l) => !(l.length === 1 && l[0] === 'edited the document'));
      lines.push(...(edited.length ? edited : [['applied a language model’s answer']]));
      const by = c.llm || {};
      lines.push({ sub: true, parts: ['From the language model', by.model ? [' ', h('code', null, by.model)] : '', by.workflow ? [', asked by the workflow ', h('strong', null, by.workflow)] : '', '.'] });
      break;
    }
    default: lines.push([String(entry.action || 'changed something').replace(/[._]/g, ' ')]);
  }
  return lines;
}

const RULE_KIND = { tag: 'Tag', correspondent: 'Correspondent', document_type: 'Type', folder: 'Folder', path_template: 'Path template' };
const RULE_ALGORITHM = { any: 'any word', all: 'all words', exact: 'exact phrase', regex: 'regular expression', fuzzy: 'fuzzy' };
const ACTION_ICON = { workflow: 'workflow', llm: 'sparkle', matched: 'rules', placed: 'folderTree', created: 'upload', edited: 'edit', processed: 'check', failed: 'alert', trashed: 'trash', restored: 'restore', pages: 'doc', 'date.extracted': 'calendar', reprocessed: 'refresh' };

export function historyPanel({ docId }) {
  const st = { items: [], total: 0, pages: 0, loading: false, again: false };
  const listEl = h('ol', { class: 'timeline', 'data-testid': 'history-list', 'aria-label': 'History, newest first' });
  const more = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'history-more', hidden: true, onclick: () => loadOlder() }, 'Show older');
  const countEl = h('span', { class: 'muted small', 'data-testid': 'history-count' });
  const el = h('section', { class: 'side-sec history-sec', 'data-testid': 'history', 'aria-labelledby': 'history-h' },
    h('div', { class: 'sec-head' }, icon('history', 16), h('h2', { id: 'history-h' }, 'History'), countEl),
    listEl, h('div', { class: 'history-foot' }, more));

  function item(e) {
    const who = e.actor ? e.actor.username : 'docmerge';
    const lines = describe(e);
    const iconName = e.action && e.action.startsWith('note.') ? 'note' : (ACTION_ICON[e.action] || 'clock');
    return h('li', { class: `tl-item${e.actor ? '' : ' by-system'}`, 'data-testid': 'history-entry', dataset: { action: e.action || '' } },
      h('span', { class: 'tl-dot', 'aria-hidden': 'true' }, icon(iconName, 12)),
      h('div', { class: 'tl-body' },
        lines.map((l, i) => (l.sub
          ? h('p', { class: 'tl-sub muted small' }, l.parts)
          : h('p', { class: 'tl-line' }, h('span', { class: i ? 'tl-who again' : 'tl-who' }, who), ' ', l))),
        h('time', { class: 'muted small', datetime: e.at }, fmtDateTime(e.at))));
  }

  function render() {
    put(listEl, st.items.length ? st.items.map(item) : h('li', { class: 'muted small' }, 'Nothing yet.'));
    countEl.textContent = st.total ? String(st.total) : '';
    more.hidden = st.items.length >= st.total;
  }

  /** The newest entries again, as many as are shown (an edit adds one at the top). */
  async function refresh() {
    // Asked again while loading: once more afterwards (the answer on its way may be older).
    if (st.loading) { st.again = true; return; }
    st.loading = true; st.again = false;
    if (!st.pages) put(listEl, h('li', null, spinner('Loading history')));
    try {
      const size = Math.min(500, Math.max(PAGE, st.items.length));
      const r = await get(`/documents/${docId}/history`, { page: 1, page_size: size });
      st.items = r.items || [];
      st.total = r.total || 0;
      st.pages = Math.max(1, Math.ceil(st.items.length / PAGE));
      render();
    } catch (e) {
      if (!st.items.length) put(listEl, h('li', { class: 'muted small' }, e.message));
    } finally {
      st.loading = false;
      if (st.again) refresh();
    }
  }

  async function loadOlder() {
    if (st.loading) return;
    st.loading = true; more.disabled = true; more.textContent = 'Loading…';
    try {
      // Entries are newest first: the next page after those shown (by offset, rounded to pages).
      const page = Math.floor(st.items.length / PAGE) + 1;
      const r = await get(`/documents/${docId}/history`, { page, page_size: PAGE });
      const have = new Set(st.items.map((x) => x.id));
      const firstNew = st.items.length;
      for (const it of r.items || []) if (!have.has(it.id)) st.items.push(it);
      st.total = r.total || st.total;
      render();
      const next = listEl.children[firstNew];
      if (next) next.setAttribute('tabindex', '-1');
      if (next) next.focus();
    } catch { /* the button stays */ } finally {
      st.loading = false; more.disabled = false; more.textContent = 'Show older';
      if (st.again) refresh();
    }
  }

  return { el, refresh };
}
