// REST client for /api/v1: JSON, CSRF header on non-GET, uniform errors.

export const BASE = '/api/v1';

/** Tiny event bus shared by the app. */
export const bus = new EventTarget();
export function emit(type, detail) { bus.dispatchEvent(new CustomEvent(type, { detail })); }
export function on(type, fn) {
  const l = (e) => fn(e.detail);
  bus.addEventListener(type, l);
  return () => bus.removeEventListener(type, l);
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || 'error';
  }
}

let csrf = null;
export function setCsrf(v) { csrf = v || null; }
function csrfToken() {
  if (csrf) return csrf;
  const m = document.cookie.match(/(?:^|;\s*)docmerge_csrf=([^;]*)/);
  return m ? decodeURIComponent(m[1]) : null;
}

export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    u.set(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}

const FRIENDLY = {
  0: 'Cannot reach the server. Check your connection.',
  413: 'The file is too large.',
  415: 'Unsupported file type. Use PDF, PNG, JPEG or TIFF.',
  429: 'Too many requests. Please wait a moment and try again.',
  500: 'The server had a problem. Please try again.',
};

/** {code, message} of an error body: flat `{code, message}` or nested `{error: {code, message}}`. */
export function errorParts(body) {
  if (!body || typeof body !== 'object') return { code: null, message: null };
  const e = body.error && typeof body.error === 'object' ? body.error : body;
  const text = (v) => (typeof v === 'string' && v.trim() ? v.trim() : null);
  return { code: text(e.code), message: text(e.message) || (typeof body.error === 'string' ? text(body.error) : null) };
}

/** A server message in words: first letter upper-case, ends with a full stop. */
export function sentence(msg) {
  const s = String(msg || '').trim();
  if (!s) return s;
  const t = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?…)]$/.test(t) ? t : `${t}.`;
}

async function toError(res) {
  let code = null; let message = null;
  try {
    ({ code, message } = errorParts(await res.json()));
  } catch { /* not JSON */ }
  if (!message) message = FRIENDLY[res.status] || `Request failed (HTTP ${res.status})`;
  return new ApiError(res.status, code, sentence(message));
}

/**
 * request('GET', '/folders/1', {query, body, signal, raw})
 * Returns parsed JSON (or null for 204). Throws ApiError.
 */
export async function request(method, path, opts = {}) {
  const { query, body, signal, retried } = opts;
  const headers = { Accept: 'application/json' };
  if (method !== 'GET' && method !== 'HEAD') {
    const t = csrfToken();
    if (t) headers['X-CSRF-Token'] = t;
  }
  let payload;
  if (body !== undefined) { headers['Content-Type'] = 'application/json'; payload = JSON.stringify(body); }
  let res;
  try {
    res = await fetch(BASE + path + qs(query), { method, headers, body: payload, credentials: 'same-origin', signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', FRIENDLY[0]);
  }
  if (!res.ok) {
    const err = await toError(res);
    // A stale CSRF token: refresh it from /auth/me once and retry.
    if (res.status === 403 && !retried && method !== 'GET' && /csrf/i.test(err.message)) {
      try { const me = await request('GET', '/auth/me'); setCsrf(me.csrf_token); return request(method, path, { ...opts, retried: true }); } catch { /* fall through */ }
    }
    if (res.status === 401 && path !== '/auth/login') emit('unauthorized', err);
    throw err;
  }
  if (res.status === 204) return null;
  const ct = res.headers.get('Content-Type') || '';
  if (!ct.includes('json')) return null;
  return res.json();
}

export const get = (p, query, o) => request('GET', p, { ...o, query });
export const post = (p, body, o) => request('POST', p, { ...o, body });
export const patch = (p, body, o) => request('PATCH', p, { ...o, body });
export const del = (p, o) => request('DELETE', p, o);

/**
 * Upload one file with XMLHttpRequest so we get upload progress.
 * Returns {promise, abort}. onProgress(loaded, total).
 */
export function upload(file, { folderId, title, tags, onProgress } = {}) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    const fd = new FormData();
    fd.append('file', file, file.name);
    if (folderId != null) fd.append('folder_id', String(folderId));
    if (title) fd.append('title', title);
    if (tags) fd.append('tags', tags);
    xhr.open('POST', `${BASE}/documents`);
    xhr.withCredentials = true;
    xhr.setRequestHeader('Accept', 'application/json');
    const t = csrfToken();
    if (t) xhr.setRequestHeader('X-CSRF-Token', t);
    xhr.upload.onprogress = (e) => { if (onProgress) onProgress(e.loaded, e.lengthComputable ? e.total : file.size); };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch { /* empty */ }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else {
        if (xhr.status === 401) emit('unauthorized');
        const { code, message } = errorParts(body);
        reject(new ApiError(xhr.status, code, sentence(message || FRIENDLY[xhr.status] || (xhr.status ? `Upload failed (HTTP ${xhr.status})` : FRIENDLY[0]))));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, 'network', FRIENDLY[0]));
    xhr.onabort = () => reject(new ApiError(0, 'aborted', 'Upload cancelled'));
    xhr.send(fd);
  });
  return { promise, abort: () => xhr.abort() };
}

// ---- URL builders for files (same origin) ----
export const thumbUrl = (docId, n = 1, version) => `${BASE}/documents/${docId}/pages/${n}/thumbnail${qs({ version })}`;
export const previewUrl = (docId, n, version) => `${BASE}/documents/${docId}/pages/${n}/preview${qs({ version })}`;
export const downloadUrl = (docId, kind, version) => `${BASE}/documents/${docId}/download${qs({ kind, version })}`;

// ---- session state ----
export const session = { user: null, roots: null, config: null, tags: [], labels: { correspondents: [], 'document-types': [] }, fields: [], views: [], pathTemplates: [] };

export async function loadTags() {
  const r = await get('/tags');
  session.tags = (r.items || []).slice().sort((a, b) => a.name.localeCompare(b.name));
  emit('tags', session.tags);
  return session.tags;
}
