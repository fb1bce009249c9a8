// Page operations through the web UI (issue 9): rotate a page, then move a page into another
// document, while a second tab showing that document updates live.
// Env: as flow.test.mjs (DOCMERGE_URL, DOCMERGE_USER, DOCMERGE_PASSWORD, DOCMERGE_TEST_CORPUS).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { requireEnv, launch, shot, login, openHome } from './lib.mjs';

const env = requireEnv();
const stamp = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
const folderName = `e2e-pages-${stamp}`;

/** A born-digital PDF with one text page (US Letter, portrait) per entry, written here. */
function textPdf(texts) {
  const n = texts.length;
  const kids = texts.map((_, i) => `${4 + 2 * i} 0 R`).join(' ');
  const objects = ['<< /Type /Catalog /Pages 2 0 R >>', `<< /Type /Pages /Kids [${kids}] /Count ${n} >>`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>'];
  texts.forEach((t, i) => {
    const content = `BT /F1 24 Tf 72 720 Td (${t}) Tj ET`;
    objects.push(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents ${5 + 2 * i} 0 R /Resources << /Font << /F1 3 0 R >> >> >>`);
    objects.push(`<< /Length ${content.length} >>\nstream\n${content}\nendstream`);
  });
  let out = '%PDF-1.4\n';
  const offsets = [];
  objects.forEach((o, i) => { offsets.push(out.length); out += `${i + 1} 0 obj\n${o}\nendobj\n`; });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const off of offsets) out += `${String(off).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

let b; let page; let other; let failed = false; let stepNo = 0;
const docs = {};

/** GET an API path with the page's session. */
const api = (p, path) => p.evaluate(async (u) => (await fetch(`/api/v1${u}`, { credentials: 'same-origin' })).json(), path);

/** The page texts of a document, once they equal `want` (polls the API; fails after 20 s). */
async function textsBecome(p, id, want) {
  const deadline = Date.now() + 20_000;
  let got;
  for (;;) {
    got = (await api(p, `/documents/${id}/pages`)).items.map((x) => x.text);
    if (JSON.stringify(got) === JSON.stringify(want)) return;
    if (Date.now() > deadline) assert.deepEqual(got, want);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function step(name, fn, timeout = 90_000) {
  it(name, { timeout }, async (t) => {
    if (failed) { t.skip('an earlier step failed'); return; }
    stepNo += 1;
    const tag = `pages-${String(stepNo).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
    try {
      await fn();
      await shot(page, tag);
      if (other) await shot(other, `${tag}-second-tab`);
    } catch (e) {
      failed = true;
      await shot(page, `${tag}-FAILED`).catch(() => {});
      throw e;
    }
  });
}

describe('page operations in the web UI', { timeout: 900_000 }, () => {
  before(async () => {
    b = await launch();
    page = b.page;
    page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  });
  after(async () => { if (b) await b.close(); });

  step('log in and upload two documents', async () => {
    await login(page, env);
    await openHome(page);
    await page.getByTestId('new-folder-button').click();
    await page.getByTestId('new-folder-input').fill(folderName);
    await page.getByTestId('new-folder-submit').click();
    const row = page.getByTestId('folder-row').filter({ hasText: folderName });
    await row.getByRole('link', { name: folderName }).click();
    await page.locator('h1', { hasText: folderName }).waitFor();
    await page.getByTestId('upload-input').setInputFiles([
      { name: 'letters.pdf', mimeType: 'application/pdf', buffer: textPdf(['Alpha first page', 'Bravo second page', 'Charlie third page']) },
      { name: 'numbers.pdf', mimeType: 'application/pdf', buffer: textPdf(['Kilo one', 'Lima two']) },
    ]);
    for (const title of ['letters', 'numbers']) {
      const r = page.getByTestId('doc-row').filter({ hasText: title });
      await r.locator('[data-testid="doc-state"][data-state="ready"]').waitFor({ timeout: 120_000 });
      docs[title] = Number(await r.getAttribute('data-doc-id'));
    }
    assert.ok(docs.letters > 0 && docs.numbers > 0);
  }, 180_000);

  step('rotate page 2', async () => {
    // A second tab shows the other document: it must follow the move later without a reload.
    other = await b.context.newPage();
    await other.goto(`${env.url}/#/doc/${docs.numbers}`);
    await other.getByTestId('page-thumb').nth(1).waitFor();
    await other.evaluate(() => { window.__noReload = true; });

    await page.goto(`${env.url}/#/doc/${docs.letters}`);
    await page.getByTestId('page-thumb').nth(2).waitFor();
    await page.getByTestId('page-thumb').nth(1).click();
    await page.getByTestId('page-selection').filter({ hasText: 'Page 2' }).waitFor();
    await page.getByTestId('rotate-right').click();
    await page.locator('.toast', { hasText: 'Page 2 rotated' }).waitFor();
    const pages = await api(page, `/documents/${docs.letters}/pages`);
    assert.equal(pages.items.length, 3);
    assert.ok(pages.items[1].width > pages.items[1].height, `page 2 is landscape now: ${JSON.stringify(pages.items[1])}`);
    assert.ok(pages.items[0].width < pages.items[0].height, 'page 1 is still portrait');
    assert.deepEqual(pages.items.map((p) => p.text), ['Alpha first page', 'Bravo second page', 'Charlie third page']);
    const d = await api(page, `/documents/${docs.letters}`);
    assert.equal(d.version.number, 2);
    // The view shows the turned page: the preview is landscape and the versions list has v2.
    await page.waitForFunction(() => {
      const i = document.querySelector('[data-testid="page-preview"]');
      return i && i.dataset.page === '2' && i.width > i.height;
    });
    await page.getByTestId('versions').filter({ hasText: 'v2' }).waitFor();
    // The thumbnail is turned by a job: the view reloads it when the job's event arrives.
    await page.waitForFunction(() => {
      const i = document.querySelectorAll('[data-testid="page-thumb"] img')[1];
      return i && i.complete && i.naturalWidth > i.naturalHeight;
    }, null, { timeout: 60_000 });
  });

  step('move page 1 into the other document', async () => {
    await page.getByTestId('page-check').first().check();
    await page.getByTestId('page-selection').filter({ hasText: '1 page selected' }).waitFor();
    await page.getByTestId('move-pages').click();
    const dlg = page.getByTestId('move-pages-dialog');
    await dlg.waitFor();
    await dlg.getByTestId('move-target').selectOption(String(docs.numbers));
    await dlg.getByTestId('move-pages-confirm').click();
    await dlg.waitFor({ state: 'detached' });
    await page.locator('.toast', { hasText: 'moved to' }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="page-thumb"]').length === 2);
    assert.deepEqual((await api(page, `/documents/${docs.letters}/pages`)).items.map((p) => p.text), ['Bravo second page', 'Charlie third page']);
    assert.deepEqual((await api(page, `/documents/${docs.numbers}/pages`)).items.map((p) => p.text), ['Kilo one', 'Lima two', 'Alpha first page']);
    // The second tab followed live (websocket event), without reloading.
    await other.waitForFunction(() => document.querySelectorAll('[data-testid="page-thumb"]').length === 3, null, { timeout: 30_000 });
    assert.equal(await other.evaluate(() => window.__noReload), true, 'the second tab was not reloaded');
    await other.getByTestId('page-thumb').nth(2).click();
    await other.getByTestId('page-text').filter({ hasText: 'Alpha first page' }).waitFor();
    await other.getByTestId('versions').filter({ hasText: 'v2' }).waitFor();
  });

  step('reorder by drag and drop', async () => {
    await page.getByTestId('page-item').nth(1).dragTo(page.getByTestId('page-item').nth(0));
    await page.locator('.toast', { hasText: 'Pages reordered' }).waitFor();
    assert.deepEqual((await api(page, `/documents/${docs.letters}/pages`)).items.map((p) => p.text), ['Charlie third page', 'Bravo second page']);
    await page.getByTestId('page-thumb').first().click();
    await page.getByTestId('page-text').filter({ hasText: 'Charlie third page' }).waitFor();
  });

  step('restore version 1', async () => {
    // letters: v1 (3 pages) → v2 rotated → v3 page moved out → v4 reordered; v1 comes back as v5.
    await page.locator('[data-testid="restore-version"][data-version="1"]').click();
    await page.getByTestId('restore-version-dialog').waitFor();
    await page.getByTestId('confirm-ok').click();
    await page.locator('.toast', { hasText: 'Version 1 restored' }).waitFor();
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="page-thumb"]').length === 3);
    const d = await api(page, `/documents/${docs.letters}`);
    assert.equal(d.version.number, 5);
    assert.deepEqual((await api(page, `/documents/${docs.letters}/pages`)).items.map((p) => p.text), ['Alpha first page', 'Bravo second page', 'Charlie third page']);
    await page.getByTestId('versions').filter({ hasText: 'v5' }).waitFor();
    // Back to the order the merge below expects.
    await page.getByTestId('page-check').first().check();
    await page.getByTestId('delete-pages').click();
    await page.getByTestId('delete-pages-dialog').waitFor();
    await page.getByTestId('confirm-ok').click();
    await textsBecome(page, docs.letters, ['Bravo second page', 'Charlie third page']);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="page-thumb"]').length === 2);
    await page.getByTestId('page-item').nth(1).dragTo(page.getByTestId('page-item').nth(0));
    await textsBecome(page, docs.letters, ['Charlie third page', 'Bravo second page']);
  });

  step('merge the two documents from the folder view', async () => {
    await page.locator('.breadcrumbs a', { hasText: folderName }).click();
    const rows = page.getByTestId('doc-row');
    await rows.nth(1).waitFor();
    const order = (await rows.evaluateAll((els) => els.map((e) => Number(e.dataset.docId))));
    for (const id of order) await page.locator(`[data-testid="doc-row"][data-doc-id="${id}"] [data-testid="row-check"]`).check();
    await page.getByTestId('merge-selected').click();
    await page.getByTestId('merge-dialog').waitFor();
    await page.getByTestId('confirm-ok').click();
    await page.locator('.toast', { hasText: 'Merged into' }).waitFor();
    const [first, second] = order;
    const texts = { [docs.letters]: ['Charlie third page', 'Bravo second page'], [docs.numbers]: ['Kilo one', 'Lima two', 'Alpha first page'] };
    assert.deepEqual((await api(page, `/documents/${first}/pages`)).items.map((p) => p.text), [...texts[first], ...texts[second]]);
    assert.ok((await api(page, `/documents/${second}`)).trashed_at, 'the other document went to the trash');
    // The folder lists only the merged document now (live, by the trash event).
    await page.locator(`[data-testid="doc-row"][data-doc-id="${second}"]`).waitFor({ state: 'detached' });
  });
});
