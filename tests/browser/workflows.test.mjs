// Workflows through the web UI (#23): on the Workflows page a workflow is built in the form —
// "processing finished", text contains a word, add a tag, set a title from a template, add a
// note — tried on a document already there (the dry run says which filter fails and what it
// would do), saved; a PDF uploaded afterwards is tagged, retitled and noted by it; the runs
// list shows the run and what it did; switched off from the list; the document's history says
// which workflow changed it; the page holds at phone width. Screenshots prefix workflows-.
// Env: as flow.test.mjs (DOCMERGE_URL, DOCMERGE_USER, DOCMERGE_PASSWORD).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { requireEnv, launch, login, textPdf, pageApi, stepper } from './lib.mjs';

const env = requireEnv();
const stamp = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
const word = `zephyr${stamp}`;
const tagName = `auto ${stamp}`;
const wfName = `Zephyr letters ${stamp}`;

let b; let page;
const ids = {};
const api = pageApi(() => page);
const step = stepper(it, 'workflows', () => page);

async function upload(name, text) {
  await page.getByTestId('nav-dashboard').click();
  await page.getByTestId('dash-inbox').waitFor();
  await page.getByTestId('upload-input').setInputFiles({ name, mimeType: 'application/pdf', buffer: textPdf(text, 18) });
  const item = page.getByTestId('upload-tray').locator('[data-testid="upload-item"][data-doc-id]', { hasText: name });
  await item.waitFor({ timeout: 60_000 });
  return Number(await item.getAttribute('data-doc-id'));
}

async function until(what, fn, ms = 120_000) {
  const started = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    assert.ok(Date.now() - started < ms, `${what}: timed out`);
    await page.waitForTimeout(500);
  }
}

describe('workflows', { timeout: 600_000 }, () => {
  before(async () => {
    b = await launch();
    page = b.page;
    page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  });
  after(async () => { if (b) await b.close(); });

  step('log in; a tag; a letter that is already there', async () => {
    await login(page, env);
    ids.tag = (await api('/tags', { method: 'POST', body: { name: tagName } })).json.id;
    ids.before = await upload(`plain-${stamp}.pdf`, `An ordinary letter ${stamp}`);
    await until('ready', async () => (await api(`/documents/${ids.before}`)).json.state === 'ready');
  });

  step('build a workflow in the form', async () => {
    await page.getByTestId('nav-workflows').click();
    await page.getByTestId('workflows-page').waitFor();
    await page.getByTestId('wf-name').fill(wfName);
    await page.getByTestId('wf-trigger').selectOption('processed');
    await page.getByTestId('wf-text').fill(word);
    await page.getByTestId('wf-add-action').selectOption('add_tags');
    await page.getByTestId('wf-action-tags').selectOption({ label: tagName });
    await page.getByTestId('wf-add-action').selectOption('set_title');
    await page.getByTestId('wf-action-title').fill('Zephyr letter of {created:%B %Y}');
    await page.getByTestId('wf-add-action').selectOption('add_note');
    await page.getByTestId('wf-action-note').fill('Filed by a workflow from {filename}');
    assert.equal(await page.getByTestId('wf-action').count(), 3);
  });

  step('try it on the letter already there: the text filter fails', async () => {
    await page.getByTestId('wf-try-doc').fill(String(ids.before));
    await page.getByTestId('wf-try').click();
    const out = page.getByTestId('wf-try-out');
    await until('the dry run answered', async () => (await out.textContent()).trim().length > 0, 30_000);
    await out.scrollIntoViewIfNeeded();
    const dry = page.getByTestId('wf-dry');
    assert.equal(await dry.count(), 1, `the dry run: ${await out.textContent()}`);
    assert.equal(await dry.getAttribute('data-would-run'), 'false');
    const text = await dry.textContent();
    assert.match(text, /text contains/);
    assert.match(text, /would not run/);
  });

  step('save it; it is listed', async () => {
    await page.getByTestId('wf-save').click();
    const row = page.locator(`[data-testid="wf-row"][data-name="${wfName}"]`);
    await row.waitFor();
    assert.match(await row.textContent(), /Processing finished · 1 filter/);
    assert.match(await row.textContent(), /Add tags → Set title → Add note/);
    ids.wf = (await api('/workflows')).json.items.find((w) => w.name === wfName).id;
  });

  step('a letter that matches is tagged, retitled and noted by it', async () => {
    ids.doc = await upload(`zephyr-${stamp}.pdf`, `Dear customer, ${word} 2024-05-17 thanks`);
    const d = await until('filed by the workflow', async () => {
      const d = (await api(`/documents/${ids.doc}`)).json;
      return d.tags.some((t) => t.id === ids.tag) && d.note_count === 1 ? d : null;
    });
    assert.equal(d.title, 'Zephyr letter of May 2024');
    const notes = (await api(`/documents/${ids.doc}/notes`)).json.items;
    assert.equal(notes[0].body, `Filed by a workflow from zephyr-${stamp}`);
  });

  step('the runs list shows what it did', async () => {
    await page.getByTestId('nav-dashboard').click();
    await page.getByTestId('nav-workflows').click();
    await page.locator(`[data-testid="wf-row"][data-name="${wfName}"] [data-testid="wf-show-runs"]`).click();
    const run = page.getByTestId('wf-run').first();
    await run.waitFor();
    assert.equal(await run.getAttribute('data-outcome'), 'applied');
    const text = await run.textContent();
    assert.match(text, new RegExp(`#${ids.doc}`));
    assert.match(text, /title "Zephyr letter of May 2024"/);
  });

  step('the document history says which workflow changed it', async () => {
    await page.goto(`${env.url}/#/doc/${ids.doc}`);
    const entry = page.locator('[data-testid="history-entry"][data-action="workflow"]').first();
    await entry.waitFor({ timeout: 30_000 });
    assert.match(await entry.textContent(), new RegExp(`By the workflow ${wfName}`));
  });

  step('the document page asks what the workflows would do to it', async () => {
    await page.getByTestId('doc-workflows-dry-run').click();
    const dlg = page.getByTestId('doc-workflows-dialog');
    await dlg.waitFor();
    const mine = dlg.locator('[data-testid="wf-dry"]', { hasText: wfName });
    assert.equal(await mine.getAttribute('data-would-run'), 'true');
    assert.match(await mine.textContent(), /title "Zephyr letter of May 2024"/);
  });

  step('switch it off from the list', async () => {
    await page.keyboard.press('Escape');
    await page.goto(`${env.url}/#/workflows`);
    const box = page.locator(`[data-testid="wf-row"][data-name="${wfName}"] [data-testid="wf-enabled"]`);
    await box.waitFor();
    await box.uncheck();
    await until('off', async () => (await api(`/workflows/${ids.wf}`)).json.enabled === false, 10_000);
  });

  step('the page at phone width', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));
    await page.reload();
    await page.getByTestId('wf-table').waitFor();
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px`);
    await page.setViewportSize({ width: 1280, height: 900 });
  });
});
