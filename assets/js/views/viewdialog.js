// Create or edit a saved view: name, query (with a short syntax help), sort, the columns it
// shows (ticked ones, in order), whether it is on the dashboard and in the sidebar. The query
// is tried first with a one-result search, so a mistake shows at the query, in the server's words.
import { h, icon, iconButton, put } from '../dom.js';
import { get, post, patch, session } from '../api.js';
import { modal } from '../ui.js';
import { loadFields } from '../metadata.js';
import { VIEW_SORTS, DEFAULT_COLUMNS, allColumns, columnLabel, queryHasWords, loadViews } from '../savedviews.js';

const HELP = [
  ['invoice "water bill" -draft', 'words, an exact phrase, a word to leave out'],
  ['tag:taxes folder:Inbox', 'a tag, a folder'],
  ['correspondent:"ACME Corp" type:Invoice', 'correspondent and document type (quote names with spaces)'],
  ['created:2025  created:2025-03  created>=2025-01-01', 'the document’s date (also <, >, <=)'],
  ['added>2026-01-01  before:2026-02-01', 'when it was added'],
  ['amount>100  "due date"<2026-01-01  paid:true', 'custom fields by name'],
  ['asn:12  has:note  no:correspondent', 'archive serial number; has or lacks something'],
];

/** The syntax help under the query box. */
export function queryHelp() {
  return h('details', { class: 'query-help', 'data-testid': 'query-help' },
    h('summary', null, 'Search syntax'),
    h('dl', null, HELP.map(([code, what]) => [h('dt', null, h('code', null, code)), h('dd', null, what)])),
    h('p', { class: 'muted small' }, 'An empty query shows every document. The sort applies when the query has only filters; words rank by relevance.'));
}

/**
 * viewDialog({view}) edits a view; viewDialog({query, sort, name}) creates one.
 * Resolves the saved view, or undefined when cancelled.
 */
export async function viewDialog({ view = null, query = '', sort = '-created_at', name = '', onDashboard = false } = {}) {
  if (!session.fields.length) await loadFields().catch(() => {});
  const editing = !!view;
  return modal({
    title: editing ? `Edit view “${view.name}”` : 'Save as view', testid: 'view-dialog', wide: true,
    build: (close) => {
      const nameIn = h('input', { id: 'vd-name', maxlength: 100, required: true, autocomplete: 'off', value: editing ? view.name : name, placeholder: 'e.g. Unpaid invoices', 'data-testid': 'view-name', 'aria-describedby': 'vd-name-err' });
      const nameErr = h('p', { class: 'field-error', id: 'vd-name-err', role: 'alert', 'data-testid': 'view-name-error' });
      const queryIn = h('textarea', { id: 'vd-query', rows: 2, class: 'query-input', spellcheck: 'false', autocomplete: 'off', 'data-testid': 'view-query', 'aria-describedby': 'vd-query-err vd-query-hint', placeholder: 'Empty: every document', value: editing ? view.query : query });
      const queryErr = h('p', { class: 'field-error', id: 'vd-query-err', role: 'alert', 'data-testid': 'view-query-error' });
      const sortSel = h('select', { id: 'vd-sort', 'data-testid': 'view-sort' }, VIEW_SORTS.map(([v, l]) => h('option', { value: v }, l)));
      sortSel.value = editing ? view.sort : (VIEW_SORTS.some(([v]) => v === sort) ? sort : '-created_at');
      const sortHint = h('p', { class: 'muted small', id: 'vd-query-hint' });
      const syncSortHint = () => {
        const words = queryHasWords(queryIn.value);
        sortHint.textContent = words ? 'This query has words: its documents are ranked by relevance, not by the sort.' : '';
        sortHint.hidden = !words;
      };
      queryIn.addEventListener('input', () => { syncSortHint(); queryErr.textContent = ''; queryIn.removeAttribute('aria-invalid'); });
      queryIn.addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); } });
      syncSortHint();

      // Columns: the ticked ones in their order, then the others.
      const chosen = [...(editing ? view.columns : DEFAULT_COLUMNS)];
      const colList = h('ol', { class: 'col-list', 'data-testid': 'view-columns', 'aria-label': 'Columns' });
      function renderCols(focusCol) {
        const known = allColumns();
        const rest = known.filter(([v]) => !chosen.includes(v));
        const rows = [...chosen.map((c) => [c, columnLabel(c)]), ...rest];
        put(colList, rows.map(([c, label]) => {
          const on = chosen.includes(c);
          const i = chosen.indexOf(c);
          const id = `vd-col-${c.replace(/[^a-z0-9]/gi, '-')}`;
          const box = h('input', { type: 'checkbox', id, checked: on, disabled: c === 'title', 'data-testid': 'view-column', dataset: { column: c } });
          box.addEventListener('change', () => {
            if (box.checked && !chosen.includes(c)) chosen.push(c);
            else if (!box.checked) chosen.splice(chosen.indexOf(c), 1);
            renderCols(c);
          });
          return h('li', { class: `col-row${on ? ' on' : ''}`, dataset: { column: c } },
            box, h('label', { for: id }, label, c === 'title' ? h('span', { class: 'muted small' }, ' (always shown)') : null),
            on ? h('span', { class: 'col-move' },
              iconButton('chevronUp', `Move ${label} up`, { class: 'btn icon-btn', disabled: i <= 0, onclick: () => { chosen.splice(i - 1, 0, chosen.splice(i, 1)[0]); renderCols(c); } }),
              iconButton('chevronDown', `Move ${label} down`, { class: 'btn icon-btn', disabled: i >= chosen.length - 1, onclick: () => { chosen.splice(i + 1, 0, chosen.splice(i, 1)[0]); renderCols(c); } })) : null);
        }));
        if (focusCol) {
          const b = colList.querySelector(`[data-column="${CSS.escape(focusCol)}"] input`);
          if (b && !b.disabled) b.focus();
        }
      }
      if (!chosen.includes('title')) chosen.unshift('title');
      renderCols();

      const dash = h('input', { type: 'checkbox', id: 'vd-dash', checked: editing ? view.on_dashboard : onDashboard, 'data-testid': 'view-on-dashboard' });
      const side = h('input', { type: 'checkbox', id: 'vd-side', checked: editing ? view.in_sidebar : false, 'data-testid': 'view-in-sidebar' });
      const err = h('p', { class: 'field-error', role: 'alert', 'data-testid': 'view-error' });
      const saveBtn = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'view-save' }, editing ? 'Save' : 'Save view');

      const form = h('form', {
        class: 'form view-form', novalidate: true,
        onsubmit: async (e) => {
          e.preventDefault();
          for (const p of [nameErr, queryErr, err]) p.textContent = '';
          nameIn.removeAttribute('aria-invalid'); queryIn.removeAttribute('aria-invalid');
          const n = nameIn.value.trim();
          if (!n) { nameErr.textContent = 'Enter a name.'; nameIn.setAttribute('aria-invalid', 'true'); nameIn.focus(); return; }
          const q = queryIn.value.replace(/\s+/g, ' ').trim();
          const body = { name: n, query: q, sort: sortSel.value, columns: [...chosen], on_dashboard: dash.checked, in_sidebar: side.checked };
          saveBtn.disabled = true; saveBtn.textContent = 'Saving…';
          try {
            // The query first: a mistake is shown at the query box, in the server's words.
            if (q) {
              try { await get('/search', { q, page_size: 1 }); } catch (ex) {
                if (ex.status === 400) { queryErr.textContent = ex.message; queryIn.setAttribute('aria-invalid', 'true'); queryIn.focus(); return; }
                throw ex;
              }
            }
            const saved = editing ? await patch(`/views/${view.id}`, body) : await post('/views', body);
            await loadViews().catch(() => {});
            close(saved);
          } catch (ex) {
            const atQuery = ex.status === 400 && /query|search|field|word|quote/i.test(ex.message) && !/column|sort/i.test(ex.message);
            if (ex.status === 409 || (!atQuery && /\bname\b/i.test(ex.message))) { nameErr.textContent = ex.message; nameIn.setAttribute('aria-invalid', 'true'); nameIn.focus(); }
            else if (atQuery) { queryErr.textContent = ex.message; queryIn.setAttribute('aria-invalid', 'true'); queryIn.focus(); }
            else err.textContent = ex.message;
          } finally { saveBtn.disabled = false; saveBtn.textContent = editing ? 'Save' : 'Save view'; }
        },
      },
      h('div', { class: 'field' }, h('label', { for: 'vd-name' }, 'Name'), nameIn, nameErr),
      h('div', { class: 'field' }, h('label', { for: 'vd-query' }, 'Query'), queryIn, queryErr, queryHelp()),
      h('div', { class: 'field' }, h('label', { for: 'vd-sort' }, 'Sort'), sortSel, sortHint),
      h('fieldset', { class: 'col-chooser' }, h('legend', null, 'Columns'), colList),
      h('div', { class: 'check-row' },
        h('label', { class: 'check-label', for: 'vd-dash' }, dash, 'Show on the dashboard'),
        h('label', { class: 'check-label', for: 'vd-side' }, side, 'Show in the sidebar')),
      err,
      h('div', { class: 'dialog-actions' },
        h('button', { type: 'button', class: 'btn', onclick: () => close(undefined) }, 'Cancel'), saveBtn));
      setTimeout(() => { nameIn.focus(); nameIn.select(); }, 0);
      return form;
    },
    onOpen: () => {},
  });
}

/** "Save as view" button for a page that shows a query (search, filtered documents). */
export function saveAsViewButton(getArgs, { onSaved } = {}) {
  return h('button', {
    type: 'button', class: 'btn', 'data-testid': 'save-as-view', 'aria-label': 'Save as view', title: 'Save this query and its sort as a view',
    onclick: async () => {
      const v = await viewDialog(getArgs());
      if (v && onSaved) onSaved(v);
    },
  }, icon('view', 16), h('span', null, 'Save as view'));
}
