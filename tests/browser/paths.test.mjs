// Path templates through the web UI (#23): a born-digital PDF is uploaded and given a
// correspondent; on the Path templates page a template with an unknown variable is refused in
// the live preview with the reason, a good one previews where the document would go and what
// its download would be called, and is saved; the document's metadata form gives it the
// template, the worker's job files it into folders made for it (the document page and the
// folder show it, its history says which template did it); a document type brings the
// template (Fields & filing); the page holds at phone width. Every screenshot (prefix paths-)
// also checks for literal null/undefined/NaN.
// Env: as flow.test.mjs (DOCMERGE_URL, DOCMERGE_USER, DOCMERGE_PASSWORD).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { requireEnv, launch, login, textPdf, pageApi, stepper } from './lib.mjs';

const env = requireEnv();
const stamp = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
const corrName = `Hooli ${stamp}`;
const top = `Bills ${stamp}`;

let b; let page;
const ids = {};
const api = pageApi(() => page);
const step = stepper(it, 'paths', () => page);

/** The document's folder path below Home, from the API. */
async function pathOf(id) {
  const d = (await api(`/documents/${id}`)).json;
  const f = (await api(`/folders/${d.folder_id}`)).json;
  return { folder: d.folder_id, path: (f.breadcrumbs || []).slice(1).map((c) => c.name).join('/') };
}

describe('path templates', { timeout: 600_000 }, () => {
  before(async () => {
    b = await launch();
    page = b.page;
    page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  });
  after(async () => { if (b) await b.close(); });

  step('log in, upload a dated letter, give it a correspondent', async () => {
    await login(page, env);
    ids.corr = (await api('/correspondents', { method: 'POST', body: { name: corrName } })).json.id;
    await page.getByTestId('nav-dashboard').click();
    await page.getByTestId('dash-inbox').waitFor();
    const name = `hooli-${stamp}.pdf`;
    await page.getByTestId('upload-input').setInputFiles({ name, mimeType: 'application/pdf', buffer: textPdf(`Hooli invoice 2024-05-17 ${stamp}`, 18) });
    const item = page.getByTestId('upload-tray').locator('[data-testid="upload-item"][data-doc-id]', { hasText: name });
    await item.waitFor({ timeout: 60_000 });
    ids.doc = Number(await item.getAttribute('data-doc-id'));
    const started = Date.now();
    for (;;) {
      const d = (await api(`/documents/${ids.doc}`)).json;
      if (d.state === 'ready') { assert.equal(d.date, '2024-05-17'); break; }
      assert.ok(Date.now() - started < 180_000, `not ready: ${JSON.stringify(d)}`);
      await page.waitForTimeout(500);
    }
    assert.equal((await api(`/documents/${ids.doc}`, { method: 'PATCH', body: { correspondent_id: ids.corr, title: `Hooli invoice ${stamp}` } })).status, 200);
  });

  step('the preview refuses an unknown variable with the reason', async () => {
    await page.getByTestId('nav-path-templates').click();
    await page.getByTestId('path-templates-page').waitFor();
    await page.getByTestId('pt-name').fill(`Bills ${stamp}`);
    await page.getByTestId('pt-template').fill(`${top}/{sender}`);
    await page.getByTestId('pt-preview-error').filter({ hasText: 'unknown variable {sender}' }).waitFor();
  });

  step('a good template previews the folders and the download name', async () => {
    await page.getByTestId('pt-template').fill(`${top}/`);
    // Variables go in where the cursor is.
    await page.getByTestId('pt-variable').filter({ hasText: '{correspondent}' }).first().click();
    await page.getByTestId('pt-template').press('End');
    await page.getByTestId('pt-template').type('/');
    await page.getByTestId('pt-variable').filter({ hasText: '{created:%Y}' }).click();
    assert.equal(await page.getByTestId('pt-template').inputValue(), `${top}/{correspondent}/{created:%Y}`);
    await page.getByTestId('pt-filename').fill('{created} {correspondent} {title}');
    await page.getByTestId('pt-preview-ids').fill(String(ids.doc));
    const row = page.locator(`[data-testid="pt-preview-row"][data-doc-id="${ids.doc}"]`);
    await row.getByTestId('pt-preview-path').filter({ hasText: `Home / ${top} / ${corrName} / 2024` }).waitFor();
    assert.equal(await row.getByTestId('pt-preview-file').innerText(), `2024-05-17 ${corrName} Hooli invoice ${stamp}.pdf`);
  });

  step('save it', async () => {
    await page.getByTestId('pt-save').click();
    const row = page.locator(`[data-testid="pt-row"][data-name="Bills ${stamp}"]`);
    await row.waitFor();
    assert.equal(await row.getByTestId('pt-count').innerText(), '0');
    ids.template = (await api('/path-templates')).json.items.find((t) => t.name === `Bills ${stamp}`).id;
  });

  step('the document gets it in its metadata; the job files it', async () => {
    await page.goto(`${env.url}/#/doc/${ids.doc}`);
    await page.getByTestId('meta-edit').click();
    await page.getByTestId('meta-path-template-select').selectOption(String(ids.template));
    await page.getByTestId('meta-save').click();
    await page.getByTestId('meta-path-template').filter({ hasText: `Bills ${stamp}` }).waitFor();
    const started = Date.now();
    for (;;) {
      const { path, folder } = await pathOf(ids.doc);
      if (path === `${top}/${corrName}/2024`) { ids.folder = folder; break; }
      assert.ok(Date.now() - started < 60_000, `not filed: ${path}`);
      await page.waitForTimeout(300);
    }
    await page.reload();
    const hist = page.getByTestId('history-list');
    const entry = hist.locator('[data-testid="history-entry"][data-action="placed"]');
    await entry.waitFor();
    const text = (await entry.innerText()).replace(/\s+/g, ' ');
    assert.match(text, new RegExp(`filed it in Home / ${top} / ${corrName} / 2024`));
    assert.match(text, new RegExp(`By the path template Bills ${stamp}`));
    await entry.scrollIntoViewIfNeeded();
  });

  step('the folder made for it shows it', async () => {
    await page.goto(`${env.url}/#/folder/${ids.folder}`);
    await page.getByText(`Hooli invoice ${stamp}`).first().waitFor();
  });

  step('a renamed correspondent moves it; a type brings its template', async () => {
    assert.equal((await api(`/correspondents/${ids.corr}`, { method: 'PATCH', body: { name: `${corrName} Inc` } })).status, 200);
    const started = Date.now();
    for (;;) {
      const { path } = await pathOf(ids.doc);
      if (path === `${top}/${corrName} Inc/2024`) break;
      assert.ok(Date.now() - started < 60_000, `not moved: ${path}`);
      await page.waitForTimeout(300);
    }
    const type = (await api('/document-types', { method: 'POST', body: { name: `Receipt ${stamp}` } })).json;
    await page.goto(`${env.url}/#/document-types`);
    const row = page.locator(`[data-testid="doctype-row"][data-name="Receipt ${stamp}"]`);
    await row.getByTestId('doctype-fields').click();
    await page.getByTestId('type-path-template').selectOption(String(ids.template));
    await page.getByTestId('type-fields-save').click();
    await row.getByTestId('doctype-path-template').filter({ hasText: `Filed by Bills ${stamp}` }).waitFor();
    assert.equal((await api('/document-types')).json.items.find((t) => t.id === type.id).path_template_id, ids.template);
  });

  step('the page at phone width', async () => {
    await page.goto(`${env.url}/#/path-templates`);
    await page.getByTestId('pt-table').waitFor();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));
    await page.reload();
    await page.getByTestId('pt-table').waitFor();
    await page.getByTestId('pt-template').fill(`${top}/{correspondent}`);
    await page.getByTestId('pt-preview-row').first().waitFor();
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px`);
  });
});
