// End-to-end flow through the web UI against a running docmerge server.
// Env: DOCMERGE_URL, DOCMERGE_USER, DOCMERGE_PASSWORD, DOCMERGE_TEST_CORPUS (required),
//      CHROMIUM_PATH (default /usr/bin/chromium), DOCMERGE_READY_TIMEOUT_MS (default 300000).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { requireEnv, launch, shot, login, openHome } from './lib.mjs';

const env = requireEnv(); // throws loudly when anything is unset
const READY_TIMEOUT = Number(process.env.DOCMERGE_READY_TIMEOUT_MS || 300_000);
const stamp = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
const uploadFolder = `e2e-upload-${stamp}`;
const movedFolder = `e2e-moved-${stamp}`;
const tagName = `e2e-tag-${stamp}`;

/** The most frequent word (5+ letters) of the ground truth: robust to one OCR slip. */
function searchWord() {
  const words = readFileSync(env.gt, 'utf8').toLowerCase().match(/[a-z]{5,}/g) || [];
  const counts = new Map();
  for (const w of words) counts.set(w, (counts.get(w) || 0) + 1);
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0][0];
}
const WORD = searchWord();

let b; let page; let docId = null; let failed = false; let stepNo = 0;
const hash = () => page.evaluate(() => location.hash);

/** Run a step; once one fails the rest are skipped (they depend on it). */
function step(name, fn, timeout = 60_000) {
  it(name, { timeout }, async (t) => {
    if (failed) { t.skip('an earlier step failed'); return; }
    stepNo += 1;
    const tag = String(stepNo).padStart(2, '0');
    try {
      await fn();
      await shot(page, `${tag}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`);
    } catch (e) {
      failed = true;
      await shot(page, `${tag}-FAILED-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`).catch(() => {});
      throw e;
    }
  });
}

describe('docmerge web UI flow', { timeout: READY_TIMEOUT + 600_000 }, () => {
  before(async () => {
    b = await launch();
    page = b.page;
    page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  });
  after(async () => { if (b) await b.close(); });

  step('wrong password shows a message', async () => {
    await page.goto(`${env.url}/#/login`);
    await page.getByTestId('login-username').fill(env.user);
    await page.getByTestId('login-password').fill(`wrong-${stamp}`);
    await page.getByTestId('login-submit').click();
    const err = page.getByTestId('login-error');
    await err.filter({ hasText: /wrong username or password/i }).waitFor();
    assert.match(await hash(), /^#\/login/);
  });

  step('log in', async () => {
    await login(page, env);
    await page.getByTestId('search-input').waitFor();
    await page.getByTestId('user-menu').waitFor();
    // The start page is the dashboard (#22; Recent, the start page of issue 21, is in the sidebar).
    assert.equal(await hash(), '#/');
    await page.locator('h1', { hasText: 'Dashboard' }).waitFor();
    await page.getByTestId('nav-recent').waitFor();
  });

  step('create a folder for this run', async () => {
    await openHome(page);
    await page.getByTestId('new-folder-button').click();
    await page.getByTestId('new-folder-input').fill(uploadFolder);
    await page.getByTestId('new-folder-submit').click();
    const row = page.getByTestId('folder-row').filter({ hasText: uploadFolder });
    await row.waitFor();
    await row.getByRole('link', { name: uploadFolder }).click();
    await page.locator('h1', { hasText: uploadFolder }).waitFor();
    await page.getByTestId('breadcrumbs').filter({ hasText: uploadFolder }).waitFor();
  });

  step('upload the scan', async () => {
    // Mark the window: if anything reloads the page the mark disappears.
    await page.evaluate(() => { window.__e2eNoReload = true; });
    await page.getByTestId('upload-input').setInputFiles(env.scan);
    const row = page.getByTestId('doc-row').first();
    const uploadError = page.locator('[data-testid="upload-item"][data-status="error"]');
    await Promise.race([
      row.waitFor({ timeout: 60_000 }),
      uploadError.waitFor({ timeout: 60_000 }).then(async () => { throw new Error(`upload failed: ${await uploadError.innerText()}`); }),
    ]);
    docId = Number(await row.getAttribute('data-doc-id'));
    assert.ok(Number.isInteger(docId) && docId > 0, 'doc row carries data-doc-id');
    // Record every state the badge shows, to prove the change happened live.
    await page.evaluate((id) => {
      window.__e2eStates = [];
      const rec = () => {
        const b = document.querySelector(`[data-testid="doc-row"][data-doc-id="${id}"] [data-testid="doc-state"]`);
        const s = b && b.dataset.state;
        if (s && window.__e2eStates[window.__e2eStates.length - 1] !== s) window.__e2eStates.push(s);
      };
      rec();
      new MutationObserver(rec).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state'] });
    }, docId);
    await page.getByTestId('upload-tray').waitFor();
  });

  step('status becomes ready live, without reload', async () => {
    const badge = page.locator(`[data-testid="doc-row"][data-doc-id="${docId}"] [data-testid="doc-state"]`);
    await page.waitForFunction((id) => {
      const b = document.querySelector(`[data-testid="doc-row"][data-doc-id="${id}"] [data-testid="doc-state"]`);
      return b && (b.dataset.state === 'ready' || b.dataset.state === 'failed');
    }, docId, { timeout: READY_TIMEOUT, polling: 250 });
    const state = await badge.getAttribute('data-state');
    if (state === 'failed') throw new Error(`processing failed: ${await badge.getAttribute('title')}`);
    assert.equal(state, 'ready');
    assert.equal(await page.evaluate(() => window.__e2eNoReload), true, 'the page was not reloaded');
    const states = await page.evaluate(() => window.__e2eStates);
    assert.equal(states[states.length - 1], 'ready', `states seen: ${states.join(' → ')}`);
    await page.locator(`[data-testid="upload-item"] [data-testid="doc-state"][data-state="ready"]`).first().waitFor();
  }, READY_TIMEOUT + 30_000);

  step('search finds it with a highlighted snippet', async () => {
    const box = page.getByTestId('search-input');
    await page.keyboard.press('Escape');
    await page.locator('body').click({ position: { x: 5, y: 300 } }).catch(() => {});
    await page.keyboard.press('/');
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'search-input', '/ focuses the search box');
    await box.fill(WORD);
    await box.press('Enter');
    await page.waitForFunction(() => location.hash.startsWith('#/search'));
    await page.locator('[data-testid="search-result"], .empty, .error-box').first().waitFor();
    let result = page.locator(`[data-testid="search-result"][data-doc-id="${docId}"]`);
    if (!(await result.count())) {
      // Many earlier documents may match too: narrow to this run's folder.
      await page.goto(`${env.url}/#/search?q=${encodeURIComponent(`${WORD} folder:${uploadFolder}`)}`);
      result = page.locator(`[data-testid="search-result"][data-doc-id="${docId}"]`);
    }
    await result.waitFor();
    const marks = result.locator('[data-testid="snippet"] mark');
    assert.ok(await marks.count() > 0, 'snippet has <mark> highlights');
    const marked = (await marks.allInnerTexts()).map((s) => s.toLowerCase());
    assert.ok(marked.some((m) => m.includes(WORD.slice(0, 4))), `a highlight matches "${WORD}" (got ${marked.join(', ')})`);
    // Only <mark> elements inside the snippet: nothing else was parsed as HTML.
    const tags = await result.locator('[data-testid="snippet"] *').evaluateAll((els) => els.map((e) => e.tagName));
    assert.ok(tags.every((t) => t === 'MARK'), `snippet contains only MARK elements (got ${tags.join(',')})`);
  });

  step('open it: page image and text', async () => {
    await page.locator(`[data-testid="search-result"][data-doc-id="${docId}"] [data-testid="result-link"]`).click();
    await page.waitForFunction((id) => location.hash.startsWith(`#/doc/${id}`), docId);
    const img = page.getByTestId('page-preview');
    await img.waitFor();
    await page.waitForFunction(() => {
      const i = document.querySelector('[data-testid="page-preview"]');
      return i && i.complete && i.naturalWidth > 0;
    });
    const text = (await page.getByTestId('page-text').innerText()).toLowerCase();
    assert.ok(text.includes(WORD), `page text contains "${WORD}"`);
    await page.getByTestId('page-thumb').first().waitFor();
  });

  step('tag it', async () => {
    await page.getByTestId('tag-input').fill(tagName);
    await page.getByTestId('tag-add').click();
    await page.getByTestId('doc-tags').filter({ hasText: tagName }).waitFor();
    // Survives a reload of the document (stored on the server).
    await page.reload();
    await page.getByTestId('doc-tags').filter({ hasText: tagName }).waitFor();
  });

  step('move it to a new folder', async () => {
    await page.getByTestId('move-button').click();
    const dlg = page.getByTestId('move-dialog');
    await dlg.waitFor();
    await dlg.locator('[aria-current="location"]', { hasText: uploadFolder }).waitFor();
    await dlg.getByTestId('move-new-folder').click();
    await page.getByTestId('new-folder-input').fill(movedFolder);
    await page.getByTestId('new-folder-submit').click();
    await dlg.locator('[aria-current="location"]', { hasText: movedFolder }).waitFor();
    await dlg.getByTestId('move-confirm').click();
    await dlg.waitFor({ state: 'detached' });
    await page.locator('.breadcrumbs', { hasText: movedFolder }).waitFor();
    // The new folder lists it.
    await page.locator('.breadcrumbs a', { hasText: movedFolder }).click();
    await page.locator(`[data-testid="doc-row"][data-doc-id="${docId}"]`).waitFor();
  });

  step('trash it', async () => {
    await page.goto(`${env.url}/#/doc/${docId}`);
    await page.getByTestId('trash-button').click();
    await page.getByTestId('confirm-dialog').waitFor();
    await page.getByTestId('confirm-ok').click();
    await page.getByTestId('restore-button').waitFor(); // the "in the trash" banner
    await page.getByTestId('nav-trash').click();
    await page.locator(`[data-testid="trash-doc"][data-doc-id="${docId}"]`).waitFor();
  });

  step('restore it', async () => {
    await page.locator(`[data-testid="trash-doc"][data-doc-id="${docId}"] [data-testid="restore-button"]`).click();
    await page.locator(`[data-testid="trash-doc"][data-doc-id="${docId}"]`).waitFor({ state: 'detached' });
    await page.goto(`${env.url}/#/doc/${docId}`);
    await page.getByTestId('trash-button').waitFor();
    assert.equal(await page.getByTestId('restore-button').count(), 0, 'no longer in the trash');
    await page.locator('.breadcrumbs', { hasText: movedFolder }).waitFor();
  });

  step('download the searchable PDF', async () => {
    const link = page.getByTestId('download-searchable');
    await link.waitFor();
    const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
    const stream = await download.createReadStream();
    const chunks = [];
    for await (const c of stream) chunks.push(c);
    const buf = Buffer.concat(chunks);
    assert.ok(buf.length > 4, 'download is not empty');
    assert.equal(buf.subarray(0, 4).toString('latin1'), '%PDF', 'searchable download is a PDF');
  });

  step('log out', async () => {
    await page.getByTestId('user-menu').click();
    await page.getByTestId('logout').click();
    await page.getByTestId('login-username').waitFor();
  });
});
