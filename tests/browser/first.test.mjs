// A new user's first steps (issue 21): the start page is the dashboard (#22) and Recent (newest
// documents of every folder, with what is processing above them, live) is one click away; the upload tray tells the truth (whole messages,
// true counts, no Reprocess that cannot help); tags are managed on their own page (create,
// rename, recolour, merge, delete) and put on or taken off several documents at once; an admin
// sees a banner when the runtime files are missing. Every screenshot also checks the page shows
// no literal null/undefined/NaN/[object Object] (lib.mjs shot()).
// Env: as flow.test.mjs (DOCMERGE_URL, DOCMERGE_USER, DOCMERGE_PASSWORD, DOCMERGE_TEST_CORPUS).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { requireEnv, launch, shot, login, openHome, textPdf, pageApi, stepper } from './lib.mjs';

const env = requireEnv();
const READY_TIMEOUT = Number(process.env.DOCMERGE_READY_TIMEOUT_MS || 300_000);
const stamp = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
const tagA = `first-a-${stamp}`;
const tagA2 = `first-renamed-${stamp}`;
const tagB = `first-b-${stamp}`;
const encrypted = join(process.env.DOCMERGE_TEST_CORPUS, 'bad-encrypted-password-is-test.pdf');


let b; let page;
const docs = {}; // scan, letter, locked: document ids
const tags = {}; // name → id

const api = pageApi(() => page);
const docTags = async (id) => ((await api(`/documents/${id}`)).json.tags || []).map((t) => t.name).sort();

const step = stepper(it, 'first', () => page);

/** Select documents by id in the list on screen (Recent or a folder). */
async function selectDocs(ids) {
  for (const id of ids) {
    const box = page.locator(`[data-testid="doc-row"][data-doc-id="${id}"] [data-testid="row-check"]`);
    // As a user scrolls: the page keeps room below for the tray, so any row can come above it.
    await box.evaluate((el) => el.scrollIntoView({ block: 'center' }));
    await box.check();
  }
  await page.getByTestId('selection-bar').waitFor();
}

/** In the bulk tag dialog: click a tag's box until it is in `state` (all | none | some). */
async function setBulkTag(name, state) {
  const dlg = page.getByTestId('bulk-tag-dialog');
  const row = dlg.getByTestId('bulk-tag-row').filter({ hasText: name });
  for (let i = 0; i < 3; i++) {
    if (await row.getByTestId('bulk-tag-check').getAttribute('data-state') === state) return;
    await row.getByTestId('bulk-tag-check').click();
    await page.waitForTimeout(50);
  }
  assert.equal(await row.getByTestId('bulk-tag-check').getAttribute('data-state'), state, `${name} box reaches ${state}`);
}

describe('a new user’s first steps', { timeout: READY_TIMEOUT + 900_000 }, () => {
  before(async () => {
    b = await launch();
    page = b.page;
    page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  });
  after(async () => { if (b) await b.close(); });

  step('log in: the start page is the dashboard, Recent is one click away', async () => {
    await login(page, env);
    assert.equal(await page.evaluate(() => location.hash), '#/');
    await page.locator('h1', { hasText: 'Dashboard' }).waitFor();
    await page.locator('.nav-link[aria-current="page"]', { hasText: 'Dashboard' }).waitFor();
    // Recent, Home, Inbox and Tags stay in the navigation.
    for (const id of ['nav-recent', 'nav-home', 'nav-inbox', 'nav-tags-page', 'nav-trash']) await page.getByTestId(id).waitFor();
    await page.getByTestId('nav-recent').click();
    assert.equal(await page.evaluate(() => location.hash), '#/recent');
    await page.locator('h1', { hasText: 'Recent' }).waitFor();
    await page.locator('.nav-link[aria-current="page"]', { hasText: 'Recent' }).waitFor();
    await page.locator('[data-testid="doc-row"], .empty').first().waitFor();
  });

  step('upload a scan: at the top at once, listed as processing until ready', async (tag) => {
    await page.evaluate(() => { window.__noReload = true; });
    await page.getByTestId('upload-input').setInputFiles(env.scan);
    const item = page.locator('[data-testid="upload-item"][data-doc-id]').first();
    await item.waitFor({ timeout: 60_000 });
    docs.scan = Number(await item.getAttribute('data-doc-id'));
    // The first row of the list is the new document, without a reload.
    const first = page.getByTestId('doc-row').first();
    await page.waitForFunction((id) => document.querySelector('[data-testid="doc-row"]')?.dataset.docId === String(id), docs.scan, { timeout: 5_000 });
    assert.equal(Number(await first.getAttribute('data-doc-id')), docs.scan);
    // Processing: listed above the documents (unless it already finished, which OCR does not do that fast).
    const proc = page.locator(`[data-testid="processing-item"][data-doc-id="${docs.scan}"]`);
    const badge = page.locator(`[data-testid="doc-row"][data-doc-id="${docs.scan}"] [data-testid="doc-state"]`);
    if (!['ready', 'failed'].includes(await badge.getAttribute('data-state'))) {
      await proc.waitFor({ timeout: 10_000 });
      await page.getByTestId('processing-section').waitFor();
      const text = await proc.innerText();
      assert.doesNotMatch(text, /Page 0 of/, 'no "Page 0 of N"');
      await shot(page, `${tag}-processing`);
    }
    await page.waitForFunction((id) => {
      const el = document.querySelector(`[data-testid="doc-row"][data-doc-id="${id}"] [data-testid="doc-state"]`);
      return el && (el.dataset.state === 'ready' || el.dataset.state === 'failed');
    }, docs.scan, { timeout: READY_TIMEOUT, polling: 250 });
    assert.equal(await badge.getAttribute('data-state'), 'ready', `processing failed: ${await badge.getAttribute('title')}`);
    await proc.waitFor({ state: 'detached', timeout: 10_000 });
    assert.equal(await page.evaluate(() => window.__noReload), true, 'no reload');
    assert.equal(Number(await page.getByTestId('doc-row').first().getAttribute('data-doc-id')), docs.scan, 'still first');
  }, READY_TIMEOUT + 60_000);

  step('upload tray: whole messages, true counts, no useless Reprocess', async (tag) => {
    if (await page.getByTestId('tray-clear').isVisible()) await page.getByTestId('tray-clear').click();
    const files = [
      { name: `letter-${stamp}.pdf`, mimeType: 'application/pdf', buffer: textPdf(`First steps ${stamp}`) },
      { name: `notes-${stamp}.pdf`, mimeType: 'application/pdf', buffer: Buffer.from(`These are plain text notes (${stamp}), not a PDF at all, even though the name ends in .pdf.\n`.repeat(4)) },
    ];
    if (existsSync(encrypted)) files.push({ name: `locked-${stamp}.pdf`, mimeType: 'application/pdf', buffer: readFileSync(encrypted) });
    await page.getByTestId('upload-input').setInputFiles(files);
    const tray = page.getByTestId('upload-tray');
    const refused = tray.locator('[data-testid="upload-item"][data-status="error"]');
    await refused.waitFor({ timeout: 30_000 });
    assert.match(await refused.innerText(), new RegExp(`notes-${stamp}`));
    // The whole message, wrapped, nothing cut off.
    const msg = refused.getByTestId('upload-message');
    const m = await msg.evaluate((el) => ({ text: el.innerText, cut: el.scrollWidth > el.clientWidth + 1 || el.scrollHeight > el.clientHeight + 1, ws: getComputedStyle(el).whiteSpace }));
    assert.ok(m.text.length > 10, `a message in words: ${m.text}`);
    assert.ok(!m.cut, 'the message is not cut off');
    assert.notEqual(m.ws, 'nowrap');
    assert.equal(await refused.getByTestId('upload-reprocess').count(), 0, 'no Reprocess for a refused file');
    // Wait for every upload to finish processing.
    await page.waitForFunction(() => {
      const s = document.querySelector('[data-testid="tray-summary"]')?.textContent || '';
      return !/uploading|processing/.test(s);
    }, null, { timeout: READY_TIMEOUT, polling: 250 });
    const summary = await page.getByTestId('tray-summary').innerText();
    const good = files.length - 1;
    assert.match(summary, new RegExp(`^${good} uploaded, 1 refused`), `true counts: ${summary}`);
    assert.doesNotMatch(summary, /uploads finished/);
    const letter = tray.locator('[data-testid="upload-item"]', { hasText: `letter-${stamp}` });
    docs.letter = Number(await letter.getAttribute('data-doc-id'));
    assert.equal(await letter.locator('[data-testid="doc-state"]').getAttribute('data-state'), 'ready');
    if (files.length === 3) {
      const locked = tray.locator('[data-testid="upload-item"]', { hasText: `locked-${stamp}` });
      docs.locked = Number(await locked.getAttribute('data-doc-id'));
      const state = await locked.locator('[data-testid="doc-state"]').getAttribute('data-state');
      if (state === 'failed') {
        // reprocess_helps arrives with the document (or the error text says "encrypted"/"password").
        await page.waitForTimeout(500);
        assert.equal(await locked.getByTestId('upload-reprocess').count(), 0, 'no Reprocess for a password-protected file');
        const text = await locked.getByTestId('upload-message').innerText();
        assert.match(text, /cannot fix/i, `says reprocessing cannot help: ${text}`);
      }
    }
    // The tray does not cover the page: the page has room below for it.
    const room = await page.evaluate(() => {
      const t = document.querySelector('[data-testid="upload-tray"]').getBoundingClientRect().height;
      const pad = parseFloat(getComputedStyle(document.querySelector('main')).paddingBottom);
      return { t, pad };
    });
    assert.ok(room.pad >= room.t, `main has ${room.pad}px of bottom padding for a ${room.t}px tray`);
    await shot(page, `${tag}-open`);
    // Collapsible.
    await page.getByTestId('tray-toggle').click();
    await tray.locator('.tray-list').waitFor({ state: 'hidden' });
    await shot(page, `${tag}-collapsed`);
    await page.getByTestId('tray-toggle').click();
    await tray.locator('.tray-list').waitFor();
  }, READY_TIMEOUT + 60_000);

  step('a failed document shows its reason without a literal null', async () => {
    if (!docs.locked) return;
    await page.goto(`${env.url}/#/doc/${docs.locked}`);
    await page.getByTestId('doc-title').waitFor();
    const d = (await api(`/documents/${docs.locked}`)).json;
    if (d.state === 'failed') {
      await page.getByTestId('doc-error').waitFor();
      assert.equal(await page.getByTestId('reprocess').count(), 0, 'no Reprocess button');
    }
  });

  step('tags page: create two tags', async () => {
    await page.getByTestId('nav-tags-page').click();
    await page.locator('h1', { hasText: 'Tags' }).waitFor();
    for (const name of [tagA, tagB]) {
      await page.getByTestId('new-tag-name').fill(name);
      await page.getByTestId('new-tag-submit').click();
      const row = page.locator(`[data-testid="tag-row"][data-tag-name="${name}"]`);
      await row.waitFor();
      tags[name] = Number(await row.getAttribute('data-tag-id'));
      assert.match(await row.getByTestId('tag-count').innerText(), /No documents/);
    }
  });

  step('rename and recolour a tag', async () => {
    const row = page.locator(`[data-testid="tag-row"][data-tag-id="${tags[tagA]}"]`);
    await row.getByTestId('tag-rename').click();
    await page.getByTestId('rename-tag-input').fill(tagA2);
    await page.getByTestId('rename-tag-submit').click();
    await page.locator(`[data-testid="tag-row"][data-tag-name="${tagA2}"]`).waitFor();
    await page.locator(`[data-testid="tag-row"][data-tag-id="${tags[tagA]}"]`).getByTestId('tag-color-input').fill('#aa3366');
    await page.locator('.toast', { hasText: 'new colour' }).waitFor();
    const t = (await api('/tags')).json.items.find((x) => x.id === tags[tagA]);
    assert.equal(t.name, tagA2);
    assert.equal(t.color.toLowerCase(), '#aa3366');
    await page.waitForFunction((id) => {
      const chip = document.querySelector(`[data-testid="tag-row"][data-tag-id="${id}"] .tag`);
      return chip && getComputedStyle(chip).backgroundColor === 'rgb(170, 51, 102)';
    }, tags[tagA]);
  });

  step('bulk tagging on Recent: two documents get two tags', async (tag) => {
    await page.getByTestId('nav-recent').click();
    await page.locator(`[data-testid="doc-row"][data-doc-id="${docs.letter}"]`).waitFor();
    await selectDocs([docs.scan, docs.letter]);
    await page.getByTestId('selection-bar').filter({ hasText: '2 documents selected' }).waitFor();
    await shot(page, `${tag}-selected`);
    await page.getByTestId('tag-selected').click();
    await page.getByTestId('bulk-tag-dialog').waitFor();
    await setBulkTag(tagA2, 'all');
    await setBulkTag(tagB, 'all');
    await page.getByTestId('bulk-tag-changes').filter({ hasText: 'to 2 documents' }).waitFor();
    await shot(page, `${tag}-dialog`);
    await page.getByTestId('bulk-tag-apply').click();
    const err = page.getByTestId('bulk-tag-error');
    await Promise.race([
      page.getByTestId('bulk-tag-dialog').waitFor({ state: 'detached' }),
      err.filter({ hasText: /./ }).waitFor().then(async () => { throw new Error(`bulk tagging failed: ${await err.innerText()}`); }),
    ]);
    await page.locator('.toast', { hasText: 'to 2 documents' }).waitFor();
    for (const id of [docs.scan, docs.letter]) assert.deepEqual(await docTags(id), [tagB, tagA2].sort());
    // The rows show the tags (refreshed without a reload).
    await page.locator(`[data-testid="doc-row"][data-doc-id="${docs.letter}"] .tag`, { hasText: tagA2 }).waitFor();
  });

  step('bulk tagging in a folder: remove a tag from both', async () => {
    await page.getByTestId('nav-inbox').click();
    await page.locator(`[data-testid="doc-row"][data-doc-id="${docs.letter}"]`).waitFor();
    // Newest first by default: the documents uploaded last are at the top.
    if (!(await page.evaluate(() => localStorage.getItem('docmerge.sort')))) {
      assert.equal(await page.getByTestId('sort-select').inputValue(), '-created_at');
    }
    await selectDocs([docs.scan, docs.letter]);
    await page.getByTestId('tag-selected').click();
    await page.getByTestId('bulk-tag-dialog').waitFor();
    await setBulkTag(tagB, 'none');
    await page.getByTestId('bulk-tag-apply').click();
    await page.getByTestId('bulk-tag-dialog').waitFor({ state: 'detached' });
    await page.locator('.toast', { hasText: 'Removed' }).waitFor();
    for (const id of [docs.scan, docs.letter]) assert.deepEqual(await docTags(id), [tagA2]);
    await page.keyboard.press('Escape');
  });

  step('merge one tag into another', async () => {
    await page.getByTestId('nav-tags-page').click();
    const row = page.locator(`[data-testid="tag-row"][data-tag-id="${tags[tagA]}"]`);
    await row.getByTestId('tag-count').filter({ hasText: '2 documents' }).waitFor();
    await row.getByTestId('tag-merge').click();
    const dlg = page.getByTestId('merge-tag-dialog');
    await dlg.waitFor();
    await dlg.getByTestId('merge-into').selectOption(String(tags[tagB]));
    assert.match(await dlg.getByTestId('merge-explain').innerText(), /2 documents/);
    await shot(page, 'first-merge-dialog');
    await dlg.getByTestId('merge-confirm').click();
    await dlg.waitFor({ state: 'detached' });
    await row.waitFor({ state: 'detached' });
    for (const id of [docs.scan, docs.letter]) assert.deepEqual(await docTags(id), [tagB]);
    await page.locator(`[data-testid="tag-row"][data-tag-id="${tags[tagB]}"] [data-testid="tag-count"]`, { hasText: '2 documents' }).waitFor();
  });

  step('delete a tag after a confirmation naming its documents', async () => {
    await page.locator(`[data-testid="tag-row"][data-tag-id="${tags[tagB]}"]`).getByTestId('tag-delete').click();
    const dlg = page.getByTestId('delete-tag-dialog');
    await dlg.waitFor();
    assert.match(await dlg.innerText(), /2 documents/);
    await shot(page, 'first-delete-tag-dialog');
    await page.getByTestId('confirm-ok').click();
    await page.locator(`[data-testid="tag-row"][data-tag-id="${tags[tagB]}"]`).waitFor({ state: 'detached' });
    for (const id of [docs.scan, docs.letter]) assert.deepEqual(await docTags(id), []);
  });

  step('dark mode and phone width', async () => {
    await page.emulateMedia({ colorScheme: 'dark' });
    for (const [r, name] of [['#/', 'dashboard'], ['#/recent', 'recent'], ['#/tags', 'tags']]) {
      await page.goto(`${env.url}/${r}`);
      await page.locator('h1').first().waitFor();
      await page.waitForFunction(() => !document.querySelector('main .loading'), null, { timeout: 15_000 }).catch(() => {});
      await shot(page, `first-dark-${name}`);
    }
    await page.setViewportSize({ width: 390, height: 844 });
    for (const [r, name] of [['#/', 'dashboard'], ['#/recent', 'recent'], ['#/tags', 'tags']]) {
      await page.goto(`${env.url}/${r}`);
      await page.locator('h1').first().waitFor();
      await page.waitForFunction(() => !document.querySelector('main .loading'), null, { timeout: 15_000 }).catch(() => {});
      await page.waitForTimeout(400); // the sidebar slides away at phone width
      await shot(page, `first-phone-dark-${name}`);
    }
    await page.emulateMedia({ colorScheme: 'light' });
    await page.goto(`${env.url}/#/recent`);
    await page.getByTestId('doc-row').first().waitFor();
    await selectDocs([docs.scan, docs.letter]);
    await page.getByTestId('upload-input').setInputFiles({ name: `phone-${stamp}.pdf`, mimeType: 'application/pdf', buffer: textPdf(`Phone ${stamp}`) });
    await page.getByTestId('upload-tray').waitFor();
    await shot(page, 'first-phone-selection-and-tray');
    // The selection bar and the tray do not overlap.
    const [bar, tray] = await Promise.all([page.getByTestId('selection-bar').boundingBox(), page.getByTestId('upload-tray').boundingBox()]);
    assert.ok(tray.y + tray.height <= bar.y + 1, `the tray (${JSON.stringify(tray)}) stays above the selection bar (${JSON.stringify(bar)})`);
    await page.keyboard.press('Escape');
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  step('admins see a banner when the runtime files are missing', async () => {
    // The server under test has its runtime: the config answer is changed in the browser only.
    const problem = 'The PDF library was not found in /opt/docmerge/runtime/lib. Run “docmerge runtime install” as the docmerge user, then restart.';
    await page.route('**/api/v1/config', async (route) => {
      const res = await route.fetch();
      const json = await res.json();
      await route.fulfill({ response: res, json: { ...json, runtime: { ready: false, problem } } });
    });
    await page.goto(`${env.url}/#/`);
    await page.reload();
    const banner = page.getByTestId('runtime-banner');
    await banner.waitFor();
    assert.equal(await page.getByTestId('runtime-problem').innerText(), problem);
    await shot(page, 'first-runtime-banner');
    await page.getByTestId('nav-tags-page').click();
    await page.locator('h1', { hasText: 'Tags' }).waitFor();
    await banner.waitFor(); // on every page
    await page.getByTestId('runtime-toggle').click();
    await page.getByTestId('runtime-problem').waitFor({ state: 'hidden' });
    await shot(page, 'first-runtime-banner-collapsed');
    await page.getByTestId('runtime-toggle').click();
    await page.getByTestId('runtime-problem').waitFor();
    await page.unroute('**/api/v1/config');
    // Not for other users: they cannot fix it.
    const user = `first-user-${stamp}`;
    const made = await api('/users', { method: 'POST', body: { username: user, password: `pw-${stamp}-long`, is_admin: false } });
    assert.ok(made.status === 201 || made.status === 200, `user created: ${made.status} ${made.text}`);
    const other = await launch();
    try {
      await other.page.route('**/api/v1/config', async (route) => {
        const res = await route.fetch();
        await route.fulfill({ response: res, json: { ...(await res.json()), runtime: { ready: false, problem } } });
      });
      await login(other.page, { ...env, user, password: `pw-${stamp}-long` });
      await other.page.locator('h1', { hasText: 'Dashboard' }).waitFor();
      assert.equal(await other.page.getByTestId('runtime-banner').count(), 0, 'no banner for a user who is not an admin');
      await shot(other.page, 'first-runtime-no-banner-for-users');
    } finally { await other.close(); }
  });
});
