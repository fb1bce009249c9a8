// Matching rules through the web UI (#23): a tag and a correspondent are made; on the Matching
// rules page a fuzzy rule for the correspondent is tried on a pasted text (it matches, naming
// what it found), a bad regular expression is refused with the reason, an "any" rule is saved
// for the tag; a born-digital PDF uploaded afterwards is filed by both rules (the worker's job);
// its history says which rule did what; the auto classifier learns from twelve filed uploads
// ("Train now", each field's held-out accuracy), an auto rule is saved without a pattern, a
// document whose correspondent was cleared shows the suggestion with the words behind it and
// Accept files it; a rule is edited and removed; the page holds at phone width. Every screenshot (prefix matching-) also checks for literal null/undefined/NaN.
// Env: as flow.test.mjs (DOCMERGE_URL, DOCMERGE_USER, DOCMERGE_PASSWORD).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { requireEnv, launch, login, textPdf, pageApi, stepper } from './lib.mjs';

const env = requireEnv();
const stamp = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
const corrName = `Globex ${stamp}`;
const tagName = `utility-${stamp}`;

let b; let page;
const ids = {};
const api = pageApi(() => page);
const step = stepper(it, 'matching', () => page);

describe('matching rules', { timeout: 600_000 }, () => {
  before(async () => {
    b = await launch();
    page = b.page;
    page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  });
  after(async () => { if (b) await b.close(); });

  step('log in, make a tag and a correspondent', async () => {
    await login(page, env);
    ids.tag = (await api('/tags', { method: 'POST', body: { name: tagName } })).json.id;
    ids.corr = (await api('/correspondents', { method: 'POST', body: { name: corrName } })).json.id;
    assert.ok(ids.tag && ids.corr, JSON.stringify(ids));
  });

  step('the Matching rules page: try a fuzzy rule on a text', async () => {
    await page.getByTestId('nav-matching').click();
    await page.getByTestId('rules-page').waitFor();
    await page.getByTestId('rule-kind').selectOption('correspondent');
    await page.getByTestId('rule-target').selectOption(String(ids.corr));
    await page.getByTestId('rule-algorithm').selectOption('fuzzy');
    await page.getByTestId('rule-pattern').fill(`Globex Corporation ${stamp}`);
    await page.locator('.rule-try summary').click();
    await page.getByTestId('rule-sample').fill(`Invoice from GLOBEX Corporatoin ${stamp}, Springfield`);
    await page.getByTestId('rule-try').click();
    const out = page.getByTestId('rule-try-result');
    await out.filter({ hasText: 'It matches' }).waitFor();
    assert.match(await out.innerText(), /found “GLOBEX Corporatoin/);
  });

  step('save it; a bad regular expression is refused with the reason', async () => {
    await page.getByTestId('rule-save').click();
    await page.locator(`[data-testid="rule-row"][data-name="${corrName}"]`).waitFor();
    await page.getByTestId('rule-kind').selectOption('tag');
    await page.getByTestId('rule-target').selectOption(String(ids.tag));
    await page.getByTestId('rule-algorithm').selectOption('regex');
    await page.getByTestId('rule-pattern').fill('(?<=electricity)\\d+');
    await page.getByTestId('rule-save').click();
    await page.getByTestId('rule-error').filter({ hasText: 'regular expression' }).waitFor();
    await page.getByTestId('rule-algorithm').selectOption('any');
    await page.getByTestId('rule-pattern').fill(`electricity "meter reading" ${stamp}x`);
    await page.getByTestId('rule-save').click();
    await page.locator(`[data-testid="rule-row"][data-name="${tagName}"]`).waitFor();
    const rules = (await api('/match-rules')).json.items;
    const mine = rules.filter((r) => r.target_name === tagName || r.target_name === corrName).map((r) => `${r.kind}:${r.algorithm}`).sort();
    assert.deepEqual(mine, ['correspondent:fuzzy', 'tag:any']);
  });

  step('an upload is filed by its rules', async () => {
    await page.getByTestId('nav-dashboard').click();
    await page.getByTestId('dash-inbox').waitFor();
    const name = `globex-${stamp}.pdf`;
    await page.getByTestId('upload-input').setInputFiles({ name, mimeType: 'application/pdf', buffer: textPdf(`Globex Corporation ${stamp} - your meter reading for March`, 18) });
    const item = page.getByTestId('upload-tray').locator('[data-testid="upload-item"][data-doc-id]', { hasText: name });
    await item.waitFor({ timeout: 60_000 });
    ids.doc = Number(await item.getAttribute('data-doc-id'));
    const started = Date.now();
    let d;
    for (;;) {
      d = (await api(`/documents/${ids.doc}`)).json;
      if (d.correspondent && d.tags.some((t) => t.id === ids.tag)) break;
      assert.ok(Date.now() - started < 180_000, `not filed: ${JSON.stringify(d)}`);
      await page.waitForTimeout(500);
    }
    assert.equal(d.correspondent.id, ids.corr);
  });

  step('its history names the rules', async () => {
    await page.goto(`${env.url}/#/doc/${ids.doc}`);
    const hist = page.getByTestId('history-list');
    await hist.scrollIntoViewIfNeeded();
    const entry = hist.locator('[data-testid="history-entry"][data-action="matched"]');
    await entry.waitFor();
    const text = (await entry.innerText()).replace(/\s+/g, ' ');
    assert.match(text, new RegExp(`set the correspondent to ${corrName}`));
    assert.match(text, new RegExp(`Correspondent ${corrName} by its rule \\(fuzzy Globex Corporation ${stamp}\\)`));
    assert.match(text, new RegExp(`Tag ${tagName} by its rule \\(any word`));
    assert.match(text, /found “meter reading”/);
  });

  step('the classifier learns from filing; Train now shows each field', async () => {
    ids.initech = (await api('/correspondents', { method: 'POST', body: { name: `Initech ${stamp}` } })).json.id;
    await page.getByTestId('nav-dashboard').click();
    await page.getByTestId('dash-inbox').waitFor();
    const files = [];
    for (let i = 0; i < 12; i++) {
      const text = i % 2 ? `Initech ${stamp} payroll statement salary tax class ${i}` : `Globex Corporation ${stamp} electricity meter reading tariff ${i}`;
      files.push({ name: `learn-${stamp}-${i}.pdf`, mimeType: 'application/pdf', buffer: textPdf(text, 18) });
    }
    await page.getByTestId('upload-input').setInputFiles(files);
    const items = page.getByTestId('upload-tray').locator('[data-testid="upload-item"][data-doc-id]', { hasText: `learn-${stamp}` });
    const started = Date.now();
    while (await items.count() < files.length) {
      assert.ok(Date.now() - started < 120_000, 'uploads did not finish');
      await page.waitForTimeout(300);
    }
    ids.learned = [];
    for (let i = 0; i < files.length; i++) {
      const id = Number(await items.filter({ hasText: new RegExp(`learn-${stamp}-${i}\\.pdf`) }).first().getAttribute('data-doc-id'));
      for (;;) {
        const d = (await api(`/documents/${id}`)).json;
        if (d.state === 'ready') break;
        assert.ok(Date.now() - started < 180_000, `not processed: ${JSON.stringify(d)}`);
        await page.waitForTimeout(300);
      }
      const r = await api(`/documents/${id}`, { method: 'PATCH', body: { correspondent_id: i % 2 ? ids.initech : ids.corr } });
      assert.equal(r.status, 200, r.text);
      ids.learned.push(id);
    }
    await page.goto(`${env.url}/#/matching`);
    await page.getByTestId('classifier').waitFor();
    await page.getByTestId('classifier-train').click();
    const fields = page.getByTestId('classifier-fields');
    await fields.waitFor({ timeout: 120_000 });
    await fields.locator('tr[data-kind="correspondent"]').waitFor();
    assert.match(await page.getByTestId('classifier-status').innerText(), /Learned from \d+ documents/);
    // An auto rule: the pattern field is not asked for.
    await page.getByTestId('rule-kind').selectOption('correspondent');
    await page.getByTestId('rule-target').selectOption(String(ids.initech));
    await page.getByTestId('rule-algorithm').selectOption('auto');
    assert.equal(await page.getByTestId('rule-pattern').isDisabled(), true);
    await page.getByTestId('rule-save').click();
    const row = page.locator(`[data-testid="rule-row"][data-name="Initech ${stamp}"]`);
    await row.filter({ hasText: 'learned from your filing' }).waitFor();
  }, 300_000);

  step('a document shows the suggestion with its words; Accept files it', async () => {
    const id = ids.learned[1];
    assert.equal((await api(`/documents/${id}`, { method: 'PATCH', body: { correspondent_id: null } })).status, 200);
    await page.goto(`${env.url}/#/doc/${id}`);
    const sug = page.locator(`[data-testid="suggestion"][data-kind="correspondent"][data-name="Initech ${stamp}"]`);
    await sug.waitFor();
    assert.match(await sug.getByTestId('suggestion-why').innerText(), /because of/);
    await sug.getByTestId('suggestion-accept').click();
    await page.getByTestId('meta-correspondent').filter({ hasText: `Initech ${stamp}` }).waitFor();
    await sug.waitFor({ state: 'detached' });
    // "Run rules" on the page: nothing left to change, and it says so.
    await page.getByTestId('meta-match').click();
    await page.locator('.toast', { hasText: 'No rule changed anything' }).waitFor();
  });

  step('edit and remove a rule; the page at phone width', async () => {
    await page.goto(`${env.url}/#/matching`);
    const row = page.locator(`[data-testid="rule-row"][data-name="${tagName}"]`);
    await row.getByTestId('rule-edit').click();
    assert.equal(await page.getByTestId('rule-algorithm').inputValue(), 'any');
    await page.getByTestId('rule-algorithm').selectOption('exact');
    await page.getByTestId('rule-pattern').fill('meter reading');
    await page.getByTestId('rule-save').click();
    await row.filter({ hasText: 'Exact phrase' }).waitFor();
    await row.getByTestId('rule-remove').click();
    await page.getByTestId('confirm-dialog').getByRole('button', { name: 'Remove' }).click();
    await row.waitFor({ state: 'detached' });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));
    await page.reload();
    await page.getByTestId('rules-table').waitFor();
    await page.waitForTimeout(300); // the drawer's transition
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 1, `the page scrolls sideways by ${overflow}px`);
  });
});
