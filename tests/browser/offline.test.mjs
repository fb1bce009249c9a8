// Loads every page of the app and asserts that no request leaves localhost
// (no CDN, fonts, analytics…) and that no page throws.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { requireEnv, launch, shot, login, isLocalUrl } from './lib.mjs';

const env = requireEnv();
const serverHost = new URL(env.url).hostname.replace(/^\[|\]$/g, '');

describe('the UI stays on localhost', { timeout: 240_000 }, () => {
  let b; let page;
  const foreign = [];
  const errors = [];
  const requests = [];

  before(async () => {
    b = await launch();
    page = b.page;
    // Block anything not local, and remember it. Covers fetch, XHR, images, fonts, websockets.
    await b.context.route('**/*', (route) => {
      const u = route.request().url();
      if (!isLocalUrl(u, [serverHost])) { foreign.push(u); return route.abort('blockedbyclient'); }
      return route.continue();
    });
    b.context.on('request', (r) => requests.push(r.url()));
    page.on('websocket', (ws) => { if (!isLocalUrl(ws.url(), [serverHost])) foreign.push(ws.url()); });
    page.on('pageerror', (e) => errors.push(`${page.url()}: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(`console: ${m.text()}`); });
  });
  after(async () => { if (b) await b.close(); });

  it('visits every page', async () => {
    await page.goto(`${env.url}/#/login`);
    await page.getByTestId('login-username').waitFor();
    await shot(page, 'offline-login');
    await login(page, env);

    // A document to open: the first one the API lists, if any.
    const docs = await page.evaluate(async () => (await fetch('/api/v1/documents?page_size=1')).json());
    const roots = await page.evaluate(async () => (await fetch('/api/v1/folders/roots')).json());
    const views = await page.evaluate(async () => (await fetch('/api/v1/views')).json());
    const routes = [
      '#/',
      '#/recent',
      '#/recent?state=failed',
      '#/views',
      '#/view/999999999',
      '#/tags',
      '#/correspondents',
      '#/document-types',
      '#/fields',
      '#/documents?correspondent=none',
      `#/folder/${roots.home.id}`,
      `#/folder/${roots.inbox.id}`,
      '#/search?q=test',
      '#/search',
      '#/trash',
      '#/admin/users',
      '#/settings/tokens',
      '#/no-such-page',
    ];
    if (docs.items && docs.items.length) routes.push(`#/doc/${docs.items[0].id}`, `#/doc/${docs.items[0].id}?page=2`, `#/doc/${docs.items[0].id}?edit=metadata`);
    if (views.items && views.items.length) routes.push(`#/view/${views.items[0].id}`);
    for (const r of routes) {
      await page.goto(`${env.url}/${r}`);
      await page.waitForLoadState('networkidle').catch(() => {});
      await page.waitForFunction(() => !document.querySelector('main .loading'), null, { timeout: 15_000 }).catch(() => {});
      await shot(page, `offline-${r.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '')}`);
    }
    // Phone-sized layout too.
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [r, name] of [[`#/folder/${roots.home.id}`, 'home'], ['#/', 'dashboard'], ['#/recent', 'recent'], ['#/tags', 'tags']]) {
      await page.goto(`${env.url}/${r}`);
      await page.waitForLoadState('networkidle').catch(() => {});
      await page.waitForFunction(() => !document.querySelector('main .loading'), null, { timeout: 15_000 }).catch(() => {});
      await shot(page, `offline-phone-${name}`);
    }

    assert.ok(requests.length > 5, 'requests were observed');
    assert.deepEqual(foreign, [], `requests left localhost:\n${foreign.join('\n')}`);
    assert.deepEqual(errors, [], `page errors:\n${errors.join('\n')}`);
  });
});
