// Entry point: session bootstrap, app shell (header, sidebar), routes, global keys.
import { h, icon, clear, debounce, tagChip, put } from './dom.js';
import { get, post, on, session, setCsrf, loadTags, ApiError, sentence } from './api.js';
import { startWs, stopWs } from './ws.js';
import { route, fallback, guard, start, navigate, parseHash, href } from './router.js';
import { toast, toastError, emptyState, setTitle, modal } from './ui.js';
import { resetUploads } from './uploads.js';
import { dropTarget, LIST_KEYS } from './common.js';
import { uploadFiles } from './uploads.js';
import { loginView } from './views/login.js';
import { folderView } from './views/folder.js';
import { docView } from './views/doc.js';
import { searchView } from './views/search.js';
import { trashView } from './views/trash.js';
import { usersView } from './views/users.js';
import { tokensView } from './views/tokens.js';
import { recentView } from './views/recent.js';
import { tagsView } from './views/tags.js';
import { correspondentsView, documentTypesView } from './views/labels.js';
import { matchingView } from './views/matching.js';
import { pathTemplatesView } from './views/pathtemplates.js';
import { workflowsView } from './views/workflows.js';
import { fieldsView } from './views/fields.js';
import { documentsView } from './views/documents.js';
import { dashboardView } from './views/dashboard.js';
import { viewPage } from './views/viewpage.js';
import { viewsListView } from './views/viewslist.js';
import { loadViews, viewHref } from './savedviews.js';
import { tagQuery } from './common.js';

const $ = (id) => document.getElementById(id);

// ---------- session ----------
export async function establish(me) {
  session.user = { id: me.id, username: me.username, is_admin: !!me.is_admin };
  if (me.csrf_token) setCsrf(me.csrf_token);
  const [roots, config] = await Promise.all([get('/folders/roots'), get('/config').catch(() => ({}))]);
  session.roots = roots;
  session.config = config || {};
  startWs(session.config.ws_url || '/ws');
  loadTags().catch(() => {});
  loadViews().catch(() => {});
  document.body.classList.remove('logged-out');
  renderShell();
  renderRuntimeBanner();
}

// ---------- runtime banner (administrators) ----------
const RUNTIME_KEY = 'docmerge.runtimeBannerCollapsed';
/** When the PDF library or OCR models are missing, admins see why on every page, until fixed. */
function renderRuntimeBanner() {
  const old = $('runtime-banner');
  if (old) old.remove();
  const rt = session.config && session.config.runtime;
  if (!session.user || !session.user.is_admin || !rt || rt.ready !== false) return;
  const problem = typeof rt.problem === 'string' && rt.problem.trim()
    ? sentence(rt.problem.trim())
    : 'The runtime files (PDF library, OCR models) were not found. See the installation guide.';
  let collapsed = sessionStorage.getItem(RUNTIME_KEY) === '1';
  const details = h('p', { class: 'runtime-problem', id: 'runtime-problem', 'data-testid': 'runtime-problem' }, problem);
  const toggle = h('button', { type: 'button', class: 'btn btn-small runtime-toggle', 'aria-controls': 'runtime-problem', 'data-testid': 'runtime-toggle' });
  const banner = h('div', { class: 'runtime-banner', id: 'runtime-banner', role: 'region', 'aria-label': 'Server problem', 'data-testid': 'runtime-banner' },
    h('div', { class: 'runtime-head' }, icon('alert', 18),
      h('strong', null, 'Documents cannot be processed: runtime files are missing.'),
      h('span', { class: 'muted small runtime-who' }, 'Only administrators see this.'),
      toggle),
    details);
  const sync = () => {
    details.hidden = collapsed;
    banner.classList.toggle('collapsed', collapsed);
    toggle.textContent = collapsed ? 'Show what to do' : 'Hide details';
    toggle.setAttribute('aria-expanded', String(!collapsed));
  };
  toggle.addEventListener('click', () => { collapsed = !collapsed; sessionStorage.setItem(RUNTIME_KEY, collapsed ? '1' : '0'); sync(); });
  sync();
  document.querySelector('.layout').before(banner);
  recheckRuntime();
}

/** While the banner shows, ask again every minute: it goes once the files are in place. */
let runtimeTimer = null;
function recheckRuntime() {
  clearTimeout(runtimeTimer);
  runtimeTimer = setTimeout(async () => {
    if (!session.user || !$('runtime-banner')) return;
    try {
      const cfg = await get('/config');
      const before = JSON.stringify(session.config && session.config.runtime);
      session.config = cfg;
      if (JSON.stringify(cfg.runtime) !== before) renderRuntimeBanner(); else recheckRuntime();
    } catch { recheckRuntime(); }
  }, 60_000);
}

export async function logout() {
  try { await post('/auth/logout'); } catch { /* session may already be gone */ }
  dropSession();
  navigate('/login');
}

function dropSession() {
  session.user = null; session.roots = null; session.tags = [];
  session.labels = { correspondents: [], 'document-types': [] }; session.fields = []; session.views = [];
  setCsrf(null);
  stopWs();
  resetUploads();
  document.body.classList.add('logged-out');
  clear($('sidebar')); clear($('user-menu'));
  if ($('runtime-banner')) $('runtime-banner').remove();
}

on('unauthorized', (err) => {
  if (!session.user) return;
  dropSession();
  const msg = (err && err.message) || 'Your session has ended. Please sign in again.';
  toast(msg.charAt(0).toUpperCase() + msg.slice(1), { kind: 'error' });
  const { path } = parseHash();
  navigate('/login', { next: path === '/login' ? undefined : location.hash.slice(1) });
});

// ---------- shell ----------
function navLink(path, iconName, label, extra = {}) {
  return h('a', { class: 'nav-link', href: `#${path}`, dataset: { path }, ...extra }, icon(iconName, 18), h('span', null, label));
}

function renderShell() {
  const sb = $('sidebar');
  const { home, inbox } = session.roots;
  const homeLink = navLink(`/folder/${home.id}`, 'home', 'Home', { 'data-testid': 'nav-home' });
  const inboxLink = navLink(`/folder/${inbox.id}`, 'inbox', 'Inbox', { 'data-testid': 'nav-inbox' });
  dropTarget(homeLink, () => ({ id: home.id, name: 'Home' }), { onFiles: (f) => uploadFiles(f, home.id) });
  dropTarget(inboxLink, () => ({ id: inbox.id, name: 'Inbox' }), { onFiles: (f) => uploadFiles(f, inbox.id) });
  const tagList = h('ul', { class: 'nav-tags', id: 'nav-tags' });
  const viewList = h('ul', { class: 'nav-tags nav-views', id: 'nav-views', 'data-testid': 'nav-views' });
  put(sb,
    h('div', { class: 'nav-group' },
      navLink('/', 'dashboard', 'Dashboard', { 'data-testid': 'nav-dashboard', title: 'Your views, what is not filed yet, what is processing' }),
      navLink('/recent', 'clock', 'Recent', { 'data-testid': 'nav-recent', title: 'What is processing, and all documents, newest first' }),
      homeLink, inboxLink,
      navLink('/tags', 'tag', 'Tags', { 'data-testid': 'nav-tags-page' }),
      navLink('/correspondents', 'contact', 'Correspondents', { 'data-testid': 'nav-correspondents' }),
      navLink('/document-types', 'fileType', 'Document types', { 'data-testid': 'nav-document-types' }),
      navLink('/fields', 'fields', 'Custom fields', { 'data-testid': 'nav-fields' }),
      navLink('/matching', 'rules', 'Matching rules', { 'data-testid': 'nav-matching', title: 'File documents by their text as they arrive' }),
      navLink('/path-templates', 'folderTree', 'Path templates', { 'data-testid': 'nav-path-templates', title: 'File documents into folders by their metadata' }),
      navLink('/workflows', 'workflow', 'Workflows', { 'data-testid': 'nav-workflows', title: 'Act on documents by themselves: metadata, webhooks, email' }),
      navLink('/trash', 'trash', 'Trash', { 'data-testid': 'nav-trash' })),
    h('div', { class: 'nav-group' }, h('h2', { class: 'nav-title' }, h('a', { href: '#/views', class: 'nav-title-link', 'data-testid': 'nav-all-views', title: 'All your views' }, 'Views')), viewList),
    h('div', { class: 'nav-group' }, h('h2', { class: 'nav-title' }, 'Your tags'), tagList),
    h('div', { class: 'nav-group nav-bottom' },
      navLink('/settings/tokens', 'key', 'API tokens'),
      session.user.is_admin ? navLink('/admin/users', 'users', 'Users') : null,
      h('p', { class: 'version muted' }, session.config.version ? `docmerge ${session.config.version}` : '')),
  );
  renderNavTags();
  renderNavViews();
  const um = $('user-menu');
  const btn = h('button', { type: 'button', class: 'btn user-btn', 'aria-haspopup': 'true', 'aria-expanded': 'false', 'aria-controls': 'user-pop', 'data-testid': 'user-menu' },
    icon('user', 18), h('span', { class: 'user-name' }, session.user.username));
  const pop = h('div', { class: 'popover', id: 'user-pop', hidden: true },
    h('p', { class: 'muted pop-head' }, `Signed in as ${session.user.username}`),
    h('a', { href: '#/settings/tokens', class: 'pop-item' }, icon('key', 16), 'API tokens'),
    session.user.is_admin ? h('a', { href: '#/admin/users', class: 'pop-item' }, icon('users', 16), 'Users') : null,
    h('button', { type: 'button', class: 'pop-item', 'data-testid': 'logout', onclick: logout }, icon('logout', 16), 'Sign out'));
  const setOpen = (o) => { pop.hidden = !o; btn.setAttribute('aria-expanded', String(o)); };
  btn.addEventListener('click', (e) => { e.stopPropagation(); setOpen(pop.hidden); if (!pop.hidden) pop.querySelector('.pop-item').focus(); });
  document.addEventListener('click', (e) => { if (!um.contains(e.target)) setOpen(false); });
  um.addEventListener('keydown', (e) => { if (e.key === 'Escape' && !pop.hidden) { setOpen(false); btn.focus(); } });
  pop.addEventListener('click', (e) => { if (e.target.closest('.pop-item')) setOpen(false); });
  put(um, btn, pop);
  markActiveNav();
}

function renderNavTags() {
  const list = $('nav-tags');
  if (!list) return;
  if (!session.tags.length) { put(list, h('li', { class: 'muted small nav-empty' }, 'No tags yet')); return; }
  put(list, ...session.tags.map((t) => h('li', null,
    h('a', { class: 'nav-tag', href: href('/search', { q: tagQuery(t.name) }) },
      tagChip(t), h('span', { class: 'count muted' }, Number.isFinite(t.document_count) ? t.document_count.toLocaleString() : '')))));
}
export { tagQuery };
on('tags', renderNavTags);

/** The saved views marked for the sidebar; "All views" leads to every one. */
function renderNavViews() {
  const list = $('nav-views');
  if (!list) return;
  const shown = session.views.filter((v) => v.in_sidebar);
  put(list,
    shown.map((v) => h('li', null, h('a', { class: 'nav-tag nav-view', href: viewHref(v.id), 'data-testid': 'nav-view', dataset: { viewId: v.id, path: `/view/${v.id}` } },
      icon('view', 14), h('span', { class: 'nav-view-name' }, v.name)))),
    h('li', null, h('a', { class: 'nav-tag nav-view muted', href: '#/views', dataset: { path: '/views' } },
      shown.length ? 'All views' : (session.views.length ? 'All views (none in the sidebar)' : 'Save a search as a view'))));
  markActiveNav();
}
on('views', renderNavViews);

function markActiveNav() {
  const { path } = parseHash();
  document.querySelectorAll('.sidebar .nav-link, .sidebar .nav-view').forEach((a) => {
    const active = a.dataset.path === path;
    a.classList.toggle('active', active);
    if (active) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  });
}
on('folder-shown', (f) => {
  // Highlight Home/Inbox for any folder within them.
  if (!session.roots) return;
  const rootId = f.breadcrumbs && f.breadcrumbs.length ? f.breadcrumbs[0].id : f.id;
  document.querySelectorAll('.sidebar .nav-link').forEach((a) => {
    const active = a.dataset.path === `/folder/${rootId}`;
    a.classList.toggle('active', active);
    if (active) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  });
});

const refreshTags = debounce(() => loadTags().catch(() => {}), 400);
on('event', (ev) => {
  if (ev.type.startsWith('tag.')) refreshTags();
  else if (ev.type === 'document.updated' || ev.type === 'document.trashed' || ev.type === 'document.restored' || ev.type === 'document.deleted') refreshTags();
});
on('tags-changed', refreshTags);

function wsIndicator(state) {
  const el = $('ws-status');
  const label = { open: 'Live updates: connected', connecting: 'Live updates: connecting', retrying: 'Live updates: reconnecting…', off: 'Live updates: off' }[state];
  el.dataset.state = state;
  el.setAttribute('aria-label', label);
  el.title = label;
}
on('ws-state', wsIndicator);

// ---------- mobile sidebar ----------
function setSidebar(open) {
  document.body.classList.toggle('nav-open', open);
  $('menu-btn').setAttribute('aria-expanded', String(open));
  $('menu-btn').setAttribute('aria-label', open ? 'Close navigation' : 'Open navigation');
  $('scrim').hidden = !open;
}

// ---------- routes ----------
function requireRoots(fn) {
  return (ctx) => (session.roots ? fn(ctx) : undefined);
}

route('/login', (params) => loginView(params, establish));
route('/', requireRoots(dashboardView));
route('/recent', requireRoots(recentView));
route('/views', viewsListView);
route('/view/:id', viewPage);
route('/documents', requireRoots(documentsView));
route('/home', requireRoots(() => navigate(`/folder/${session.roots.home.id}`, null, { replace: true })));
route('/tags', tagsView);
route('/correspondents', correspondentsView);
route('/document-types', documentTypesView);
route('/fields', fieldsView);
route('/matching', matchingView);
route('/path-templates', pathTemplatesView);
route('/workflows', workflowsView);
route('/inbox', requireRoots(() => navigate(`/folder/${session.roots.inbox.id}`, null, { replace: true })));
route('/folder/:id', folderView);
route('/doc/:id', docView);
route('/search', searchView);
route('/trash', trashView);
route('/admin/users', usersView);
route('/settings/tokens', tokensView);
fallback(() => {
  setTitle('Not found');
  put($('main'), emptyState('alert', 'Page not found', 'That address does not match any page.', h('a', { href: '#/', class: 'btn' }, 'Go home')));
});
guard((path) => {
  if (!session.user && path !== '/login') return `/login?next=${encodeURIComponent(location.hash.slice(1) || '/')}`;
  if (session.user && path === '/login') return '/';
  return null;
});

window.addEventListener('hashchange', () => {
  setSidebar(false);
  markActiveNav();
  // Keep the header search box in step with the search page.
  const { path, query } = parseHash();
  if (path !== '/search') $('search-input').value = '';
  else $('search-input').value = query.get('q') || '';
});

// ---------- global keys ----------
document.addEventListener('keydown', (e) => {
  const t = e.target;
  const typing = t instanceof HTMLElement && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
  if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey && session.user) {
    e.preventDefault();
    $('search-input').focus();
    $('search-input').select();
  } else if (e.key === '?' && !typing && !e.ctrlKey && !e.metaKey && !e.altKey && session.user && !document.querySelector('dialog[open]')) {
    e.preventDefault();
    keyboardHelp();
  } else if (e.key === 'Escape' && document.body.classList.contains('nav-open')) {
    setSidebar(false);
    $('menu-btn').focus();
  } else if (e.key === 'Escape' && t === $('search-input')) {
    t.blur();
  }
});

/** `?`: every key the app knows, in one list. */
function keyboardHelp() {
  const mac = /Mac|iPhone|iPad/.test(navigator.platform || '');
  const group = (title, keys) => [h('h3', { class: 'keys-h' }, title),
    h('dl', { class: 'keys' }, keys.map(([k, what]) => [h('dt', null, k.split(' ').map((x) => h('kbd', null, x))), h('dd', null, what)]))];
  return modal({
    title: 'Keyboard', testid: 'keys-dialog', wide: true,
    build: () => [
      group('Everywhere', [['/', 'Search'], ['?', 'This list']]),
      group('Lists of documents', LIST_KEYS),
      group('A document', [['← →', 'Previous, next page'], ['Home End', 'First, last page'], [`${mac ? '⌘' : 'Ctrl'} Enter`, 'Save the metadata being edited']]),
    ],
  });
}

// ---------- boot ----------
async function boot() {
  $('menu-btn').append(icon('menu', 20));
  $('search-form').append(icon('search', 16));
  $('menu-btn').addEventListener('click', () => setSidebar(!document.body.classList.contains('nav-open')));
  $('scrim').addEventListener('click', () => setSidebar(false));
  $('skip-link').addEventListener('click', () => $('main').focus());
  $('search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const q = $('search-input').value.trim();
    if (q) navigate('/search', { q });
  });
  wsIndicator('off');
  try {
    const me = await get('/auth/me');
    await establish(me);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 401) {
      if (e.status !== 401) toastError(e);
    }
    document.body.classList.add('logged-out');
  }
  document.body.classList.remove('booting');
  await start();
}

boot();
