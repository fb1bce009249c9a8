// Hash router: '#/folder/12', '#/doc/5?page=2', '#/search?q=…'.

const routes = [];
let current = null; // {cleanup, key}
let notFound = null;
let beforeEach = null;

export function route(pattern, view) {
  // pattern like '/folder/:id'
  const keys = [];
  const re = new RegExp('^' + pattern.replace(/\/:(\w+)/g, (_, k) => { keys.push(k); return '/([^/]+)'; }) + '/?$');
  routes.push({ re, keys, view, pattern });
}
export function fallback(view) { notFound = view; }
export function guard(fn) { beforeEach = fn; }

export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#/, '') || '/';
  const qi = raw.indexOf('?');
  const path = qi >= 0 ? raw.slice(0, qi) : raw;
  const query = new URLSearchParams(qi >= 0 ? raw.slice(qi + 1) : '');
  return { path: path || '/', query };
}

export function href(path, query) {
  const q = query ? new URLSearchParams(Object.entries(query).filter(([, v]) => v !== undefined && v !== null && v !== '')).toString() : '';
  return `#${path}${q ? `?${q}` : ''}`;
}

export function navigate(path, query, { replace = false } = {}) {
  const target = href(path, query);
  if (replace) { history.replaceState(null, '', target); render(); }
  else if (location.hash === target) render();
  else location.hash = target;
}

/** Update the query string without re-rendering the view (e.g. page number). */
export function setQuery(query) {
  const { path } = parseHash();
  history.replaceState(null, '', href(path, query));
}

export async function render() {
  const { path, query } = parseHash();
  if (beforeEach) {
    const redirect = beforeEach(path, query);
    if (redirect) { navigate(redirect, null, { replace: true }); return; }
  }
  let match = null; let params = {};
  for (const r of routes) {
    const m = r.re.exec(path);
    if (m) { match = r; r.keys.forEach((k, i) => { params[k] = decodeURIComponent(m[i + 1]); }); break; }
  }
  if (current && current.cleanup) { try { current.cleanup(); } catch (e) { console.error(e); } }
  current = null;
  const view = match ? match.view : notFound;
  const token = {};
  current = { token, cleanup: null };
  const cleanup = await view({ params, query, path });
  if (current && current.token === token) current.cleanup = cleanup || null;
  else if (cleanup) cleanup(); // navigated away while rendering
}

export function start() {
  window.addEventListener('hashchange', render);
  return render();
}
