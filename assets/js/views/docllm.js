// Suggestions from the operator's language model (#23) on a document's page: "Ask" (when one
// is configured), the answer's suggestions the document does not have yet — each accepted with
// one click, or all dismissed — what was dropped and why, and exactly what was sent.
// Hidden when no language model is configured.
import { h, icon, put, fmtDateTime } from '../dom.js';
import { get, post, patch, del, emit } from '../api.js';
import { loadLlm } from '../metadata.js';
import { toast, toastError } from '../ui.js';

const KIND = { title: 'Title', correspondent: 'Correspondent', document_type: 'Type', date: 'Date', tag: 'Tag', custom_field: 'Field' };
const ICONS = { title: 'edit', correspondent: 'contact', document_type: 'fileType', date: 'calendar', tag: 'tag', custom_field: 'fields' };

/** The edit that accepts one suggestion. */
function acceptCall(docId, s) {
  switch (s.kind) {
    case 'tag': return post(`/documents/${docId}/tags`, { tag_ids: [s.target_id] }).then((d) => { emit('tags-changed'); return d; });
    case 'title': return patch(`/documents/${docId}`, { title: s.value });
    case 'date': return patch(`/documents/${docId}`, { date: s.value });
    case 'custom_field': return patch(`/documents/${docId}`, { fields: [{ field_id: s.target_id, value: s.value }] });
    default: return patch(`/documents/${docId}`, { [`${s.kind}_id`]: s.target_id });
  }
}

export function llmPanel({ docId, getDoc, onAccepted }) {
  const el = h('section', { class: 'side-sec suggest-sec llm-sec', hidden: true, 'data-testid': 'llm', 'aria-labelledby': 'llm-h' });
  let seq = 0;
  let timer = null;
  let sentOpen = false; // kept across refreshes (a live update redraws the panel)

  async function accept(s, btn) {
    btn.disabled = true;
    try {
      const doc = await acceptCall(docId, s);
      toast(`${KIND[s.kind] || s.kind} “${s.display || s.name}” set.`);
      onAccepted(doc);
    } catch (ex) { toastError(ex); btn.disabled = false; }
  }

  async function ask(btn) {
    btn.disabled = true;
    try { await post(`/documents/${docId}/llm-suggestions`, {}); refresh(); } catch (ex) { toastError(ex); btn.disabled = false; }
  }

  async function dismiss() {
    try { await del(`/documents/${docId}/llm-suggestions`); refresh(); } catch (ex) { toastError(ex); }
  }

  function sentView(req) {
    const msgs = (req.prompt && req.prompt.messages) || [];
    const d = h('details', { class: 'llm-sent', 'data-testid': 'llm-sent', open: sentOpen },
      h('summary', { class: 'small' }, 'What was sent and answered'),
      h('p', { class: 'muted small' },
        `${req.model || 'The model'} · ${req.prompt_tokens} + ${req.completion_tokens} tokens · ${fmtDateTime(req.finished_at || req.created_at)}`,
        req.workflow_name ? ` · asked by the workflow “${req.workflow_name}”` : ''),
      msgs.map((m) => [h('div', { class: 'muted small' }, m.role === 'system' ? 'Instructions' : 'Your names and the document'), h('pre', { class: 'llm-pre' }, m.content)]),
      req.answer != null ? [h('div', { class: 'muted small' }, 'Answer'), h('pre', { class: 'llm-pre', 'data-testid': 'llm-answer' }, req.answer)] : null,
      req.dropped && req.dropped.length ? h('ul', { class: 'llm-dropped small', 'data-testid': 'llm-dropped' },
        req.dropped.map((x) => h('li', null, h('code', null, x.key), ' ', h('q', null, typeof x.value === 'string' ? x.value : JSON.stringify(x.value)), ` — ${x.reason}`))) : null);
    d.addEventListener('toggle', () => { sentOpen = d.open; });
    return d;
  }

  function render(r) {
    const latest = (r.requests || [])[0];
    const askBtn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'llm-ask', disabled: r.pending }, icon('sparkle', 14), r.pending ? 'Asking…' : 'Ask');
    askBtn.addEventListener('click', () => ask(askBtn));
    const items = r.items || [];
    const dismissBtn = items.length ? h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'llm-dismiss' }, 'Dismiss') : null;
    if (dismissBtn) dismissBtn.addEventListener('click', dismiss);
    let status = null;
    if (r.pending) status = h('p', { class: 'muted small', 'data-testid': 'llm-status' }, latest && latest.error ? `Trying again: ${latest.error}` : 'The model is reading the document; this can take a minute.');
    else if (latest && (latest.state === 'failed' || latest.state === 'skipped')) status = h('p', { class: 'error-text small', 'data-testid': 'llm-status' }, `Not answered: ${latest.error}`);
    else if (latest && latest.state === 'done' && !items.length) status = h('p', { class: 'muted small', 'data-testid': 'llm-status' }, latest.mode === 'apply' ? `Applied: ${latest.applied.map((s) => s.display || s.name).join(', ') || 'nothing'}.` : 'Nothing new to suggest.');
    else if (!latest) status = h('p', { class: 'muted small' }, 'Ask the language model for a title, correspondent, type, date, tags and field values from your own names.');
    put(el,
      h('div', { class: 'sec-head' }, h('h2', { id: 'llm-h' }, icon('sparkle', 16), 'Language model'), h('span', { class: 'sec-actions' }, dismissBtn, askBtn)),
      status,
      items.length ? h('ul', { class: 'suggest-list', 'data-testid': 'llm-items' }, items.map((s) => {
        const btn = h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'llm-accept', 'aria-label': `Accept ${(KIND[s.kind] || s.kind).toLowerCase()} ${s.display || s.name}` }, icon('check', 14), 'Accept');
        btn.addEventListener('click', () => accept(s, btn));
        return h('li', { class: 'suggest-item', 'data-testid': 'llm-item', dataset: { kind: s.kind, name: s.name } },
          h('span', { class: 'suggest-what' }, icon(ICONS[s.kind] || 'tag', 14), h('span', { class: 'muted small' }, s.kind === 'custom_field' ? s.name : (KIND[s.kind] || s.kind)),
            h('strong', null, s.kind === 'custom_field' ? (s.display || JSON.stringify(s.value)) : s.name)),
          btn);
      })) : null,
      latest && latest.prompt ? sentView(latest) : null);
  }

  async function refresh() {
    clearTimeout(timer);
    const d = getDoc();
    const mine = ++seq;
    let cfg;
    try { cfg = await loadLlm(); } catch { cfg = null; }
    if (!cfg || !cfg.enabled || !d || d.trashed_at || d.state !== 'ready') { el.hidden = true; put(el); return; }
    try {
      const r = await get(`/documents/${docId}/llm-suggestions`);
      if (mine !== seq) return;
      el.hidden = false;
      render(r);
      if (r.pending) timer = setTimeout(refresh, 2000);
    } catch { if (mine === seq) { el.hidden = true; put(el); } }
  }

  /** The page is left: no more polling. */
  function stop() { clearTimeout(timer); seq++; }

  return { el, refresh, stop };
}
