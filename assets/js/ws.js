// Reconnecting websocket for live events, resuming with ?after=<last event id>.
import { emit } from './api.js';

let sock = null;
let lastId = null;
let wanted = false;
let attempt = 0;
let timer = null;
let baseUrl = null;
let state = 'off'; // off | connecting | open | retrying
/** Close code of a socket whose session or token was revoked or expired (see src/ws). */
export const SESSION_ENDED = 4401;

function setState(s) {
  if (state === s) return;
  state = s;
  emit('ws-state', s);
}
export function wsState() { return state; }
export function isLive() { return state === 'open'; }

function resolveUrl(wsUrl) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  if (!wsUrl) return `${proto}//${location.host}/ws`;
  if (wsUrl.startsWith('/')) return `${proto}//${location.host}${wsUrl}`;
  return wsUrl;
}

export function startWs(wsUrl) {
  baseUrl = resolveUrl(wsUrl);
  wanted = true;
  attempt = 0;
  connect();
}

export function stopWs() {
  wanted = false;
  lastId = null;
  clearTimeout(timer);
  if (sock) { try { sock.close(1000); } catch { /* ignore */ } }
  sock = null;
  setState('off');
}

function connect() {
  if (!wanted) return;
  clearTimeout(timer);
  let url = baseUrl;
  if (lastId != null) url += (url.includes('?') ? '&' : '?') + `after=${encodeURIComponent(lastId)}`;
  setState(attempt === 0 ? 'connecting' : 'retrying');
  let s;
  try { s = new WebSocket(url); } catch { scheduleRetry(); return; }
  sock = s;
  s.onopen = () => {
    if (sock !== s) return;
    const reconnected = attempt > 0;
    attempt = 0;
    setState('open');
    if (reconnected) emit('ws-reconnected');
  };
  s.onmessage = (m) => {
    if (sock !== s) return;
    let ev;
    try { ev = JSON.parse(m.data); } catch { return; }
    if (!ev || typeof ev !== 'object' || !ev.type) return;
    if (typeof ev.id === 'number') {
      if (lastId != null && ev.id <= lastId) return; // duplicate after resume
      lastId = ev.id;
    }
    emit('event', ev);
  };
  s.onclose = (e) => {
    if (sock !== s) return;
    sock = null;
    // 4401: the session or token this socket was opened with ended (logout elsewhere, revoked,
    // password changed, account disabled). Reconnecting cannot help: sign in again.
    if (e && e.code === SESSION_ENDED) {
      wanted = false;
      setState('off');
      emit('unauthorized', { message: e.reason || 'Your session has ended. Please sign in again.' });
      return;
    }
    scheduleRetry();
  };
  s.onerror = () => { /* onclose follows */ };
}

function scheduleRetry() {
  if (!wanted) { setState('off'); return; }
  setState('retrying');
  attempt++;
  const delay = Math.min(30000, 500 * 2 ** Math.min(attempt, 6)) * (0.75 + Math.random() * 0.5);
  timer = setTimeout(connect, delay);
}

// Reconnect promptly when the tab comes back or the network returns.
window.addEventListener('online', () => { if (wanted && state !== 'open') { attempt = Math.max(attempt, 1); connect(); } });
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && wanted && state === 'retrying') connect();
});
