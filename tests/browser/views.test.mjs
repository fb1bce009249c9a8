// Saved views, the dashboard and bulk edit through the web UI (#22): a correspondent, a document
// type, a money field and a tag are made on their pages; three born-digital PDFs are uploaded
// from the dashboard (they show under "Not filed yet"); one gets a date and an Amount in its
// metadata panel; the three get the correspondent with one bulk edit (progress to the end, then
// "Changed 3 documents"); a search for that correspondent is saved as a view on the dashboard,
// which lists the view with its three documents; on the view page "Select all 3 matching" sends
// the query (not ids) and adds the tag to all three; the list keys move, select and open the
// metadata editor; the dashboard and the view page hold at phone width and in dark mode.
// Every screenshot (prefix views-) also checks the page shows no literal null/undefined/NaN.
// Env: as flow.test.mjs (DOCMERGE_URL, DOCMERGE_USER, DOCMERGE_PASSWORD, DOCMERGE_TEST_CORPUS).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { requireEnv, launch, shot, login, textPdf, pageApi, stepper } from './lib.mjs';

const env = requireEnv();
const READY_TIMEOUT = Number(process.env.DOCMERGE_READY_TIMEOUT_MS || 300_000);
const stamp = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
const corrName = `Views Corp ${stamp}`;
const typeName = `Statement ${stamp}`;
const amountName = `Total ${stamp}`;
const tagName = `views-tag-${stamp}`;
const viewName = `From Views Corp ${stamp}`;

let b; let page;
const ids = { docs: [] }; // correspondent, type, amount, tag, docs, view
const bulkBodies = []; // bodies of POST /documents/bulk, as sent

const api = pageApi(() => page);
const doc = async (id) => (await api(`/documents/${id}`)).json;

const step = stepper(it, 'views', () => page);

const clearToasts = () => page.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));

/** Wait until the bulk edit dialog shows its result (or fail with its error). */
async function bulkResult() {
  const dlg = page.getByTestId('bulk-edit-dialog');
  const err = dlg.getByTestId('bulk-error');
  await Promise.race([
    dlg.getByTestId('bulk-result').filter({ hasText: /./ }).waitFor({ timeout: 60_000 }),
    err.filter({ hasText: /./ }).waitFor({ timeout: 60_000 }).then(async () => { throw new Error(`bulk edit refused: ${await err.innerText()}`); }),
  ]);
  await clearToasts();
  await page.waitForTimeout(250); // the Close button's colour eases in: screenshots after it
  return dlg.getByTestId('bulk-result').innerText();
}

describe('saved views, the dashboard and bulk edit', { timeout: READY_TIMEOUT + 900_000 }, () => {
  before(async () => {
    b = await launch();
    page = b.page;
    page.on('pageerror', (e) => console.error('[pageerror]', e.message));
    page.on('request', (r) => {
      if (r.method() === 'POST' && r.url().endsWith('/api/v1/documents/bulk')) {
        try { bulkBodies.push(JSON.parse(r.postData() || 'null')); } catch { bulkBodies.push(null); }
      }
    });
  });
  after(async () => { if (b) await b.close(); });

  step('log in: the start page is the dashboard', async () => {
    await login(page, env);
    assert.equal(await page.evaluate(() => location.hash), '#/');
    await page.locator('h1', { hasText: 'Dashboard' }).waitFor();
    await page.locator('.nav-link[aria-current="page"]', { hasText: 'Dashboard' }).waitFor();
    await page.getByTestId('dash-inbox').waitFor();
    await page.getByTestId('dash-recent').waitFor();
    // Recent stays one click away.
    assert.equal(await page.getByTestId('nav-recent').getAttribute('href'), '#/recent');
  });

  step('create a correspondent, a money field, a document type and a tag', async () => {
    await page.getByTestId('nav-correspondents').click();
    await page.getByTestId('new-correspondent-name').fill(corrName);
    await page.getByTestId('new-correspondent-submit').click();
    const crow = page.locator(`[data-testid="correspondent-row"][data-name="${corrName}"]`);
    await crow.waitFor();
    ids.correspondent = Number(await crow.getAttribute('data-id'));

    await page.getByTestId('nav-fields').click();
    await page.getByTestId('new-field-name').fill(amountName);
    await page.getByTestId('new-field-kind').selectOption('monetary');
    await page.getByTestId('new-field-submit').click();
    const frow = page.locator(`[data-testid="field-row"][data-name="${amountName}"]`);
    await frow.waitFor();
    ids.amount = Number(await frow.getAttribute('data-id'));
    assert.equal(await frow.getAttribute('data-kind'), 'monetary');

    await page.getByTestId('nav-document-types').click();
    await page.getByTestId('new-doctype-name').fill(typeName);
    await page.getByTestId('new-doctype-submit').click();
    // With custom fields around, a new type asks which it brings: none here.
    const dlg = page.getByTestId('type-fields-dialog');
    await dlg.waitFor();
    await dlg.getByTestId('type-fields-save').click();
    await dlg.waitFor({ state: 'detached' });
    const trow = page.locator(`[data-testid="doctype-row"][data-name="${typeName}"]`);
    await trow.waitFor();
    ids.type = Number(await trow.getAttribute('data-id'));

    await page.getByTestId('nav-tags-page').click();
    await page.getByTestId('new-tag-name').fill(tagName);
    await page.getByTestId('new-tag-submit').click();
    const tg = page.locator(`[data-testid="tag-row"][data-tag-name="${tagName}"]`);
    await tg.waitFor();
    ids.tag = Number(await tg.getAttribute('data-tag-id'));
    assert.ok(ids.correspondent && ids.amount && ids.type && ids.tag, JSON.stringify(ids));
  });

  step('upload three PDFs from the dashboard; they show under Not filed yet', async () => {
    await page.getByTestId('nav-dashboard').click();
    await page.getByTestId('dash-inbox').waitFor();
    const files = [1, 2, 3].map((n) => ({ name: `views-${n}-${stamp}.pdf`, mimeType: 'application/pdf', buffer: textPdf(`Views letter ${n} ${stamp}`, 20) }));
    await page.getByTestId('upload-input').setInputFiles(files);
    const tray = page.getByTestId('upload-tray');
    for (const f of files) {
      const item = tray.locator('[data-testid="upload-item"][data-doc-id]', { hasText: f.name });
      await item.waitFor({ timeout: 60_000 });
      ids.docs.push(Number(await item.getAttribute('data-doc-id')));
    }
    const deadline = Date.now() + READY_TIMEOUT;
    for (;;) {
      const ds = await Promise.all(ids.docs.map((id) => doc(id)));
      const bad = ds.find((d) => d.state === 'failed');
      if (bad) throw new Error(`processing failed: ${bad.error}`);
      if (ds.every((d) => d.state === 'ready')) break;
      if (Date.now() > deadline) throw new Error(`not ready after ${READY_TIMEOUT} ms: ${ds.map((d) => d.state).join(', ')}`);
      await page.waitForTimeout(500);
    }
    // The dashboard follows without a reload: the three are the newest of the Inbox.
    for (const id of ids.docs) await page.locator(`[data-testid="dash-inbox"] [data-testid="dash-doc"][data-doc-id="${id}"]`).waitFor({ timeout: 10_000 });
    await page.locator(`[data-testid="dash-recent"] [data-testid="dash-doc"][data-doc-id="${ids.docs[2]}"]`).waitFor();
    if (await page.getByTestId('tray-close').isVisible()) await page.getByTestId('tray-close').click();
  }, READY_TIMEOUT + 90_000);

  step('set the date and the amount of one in its metadata panel', async (tag) => {
    await page.goto(`${env.url}/#/doc/${ids.docs[0]}`);
    await page.getByTestId('meta-edit').click();
    await page.getByTestId('meta-form').waitFor();
    await page.getByTestId('meta-date-input').fill('2025-06-30');
    await page.getByTestId('add-field-select').selectOption(String(ids.amount));
    const row = page.locator(`[data-testid="meta-field-row"][data-field-id="${ids.amount}"]`);
    await row.getByTestId('field-amount').fill('99.5');
    await shot(page, `${tag}-form`);
    await page.getByTestId('meta-save').click();
    await page.getByTestId('meta-read').waitFor();
    const d = await doc(ids.docs[0]);
    assert.equal(d.date, '2025-06-30');
    assert.deepEqual((d.fields || []).find((f) => f.field_id === ids.amount).value, { amount: '99.50', currency: 'EUR' });
    assert.equal(await page.locator(`[data-testid="meta-field"][data-field-id="${ids.amount}"]`).innerText(), '99.50 EUR');
  });

  step('bulk edit: the three get the correspondent', async (tag) => {
    await page.getByTestId('nav-recent').click();
    await page.locator('h1', { hasText: 'Recent' }).waitFor();
    for (const id of ids.docs) {
      const box = page.locator(`[data-testid="doc-row"][data-doc-id="${id}"] [data-testid="row-check"]`);
      await box.evaluate((el) => el.scrollIntoView({ block: 'center' }));
      await box.check();
    }
    await page.getByTestId('selection-bar').filter({ hasText: '3 documents selected' }).waitFor();
    await page.getByTestId('edit-selected').click();
    const dlg = page.getByTestId('bulk-edit-dialog');
    await dlg.waitFor();
    assert.match(await dlg.locator('h2').innerText(), /Edit 3 documents/);
    assert.equal(await dlg.getByTestId('bulk-apply').isDisabled(), true, 'nothing chosen: nothing to apply');
    await dlg.getByTestId('bulk-correspondent').selectOption(String(ids.correspondent));
    await dlg.getByTestId('bulk-summary').filter({ hasText: corrName }).waitFor();
    await clearToasts();
    await shot(page, `${tag}-dialog`);
    await dlg.getByTestId('bulk-apply').click();
    const text = await bulkResult();
    assert.match(text, /Changed 3 documents/, text);
    const bar = await dlg.getByTestId('bulk-progress-bar').evaluate((el) => ({ value: el.value, max: el.max }));
    assert.equal(bar.value, bar.max, `the bar is full: ${JSON.stringify(bar)}`);
    assert.match(await dlg.getByTestId('bulk-counts').innerText(), /3 of 3 documents/);
    assert.deepEqual(bulkBodies.at(-1).edit, { correspondent_id: ids.correspondent }, 'only the correspondent is sent');
    assert.deepEqual(bulkBodies.at(-1).documents.slice().sort((x, y) => x - y), ids.docs.slice().sort((x, y) => x - y));
    await shot(page, `${tag}-done`);
    await dlg.getByTestId('bulk-close').click();
    await dlg.waitFor({ state: 'detached' });
    for (const id of ids.docs) assert.equal((await doc(id)).correspondent?.id, ids.correspondent, `document ${id} has the correspondent`);
    // The list shows it without a reload.
    for (const id of ids.docs) await page.locator(`[data-testid="doc-row"][data-doc-id="${id}"] [data-testid="row-correspondent"]`, { hasText: corrName }).waitFor();
  });

  step('search the correspondent and save it as a view on the dashboard', async (tag) => {
    const q = `correspondent:"${corrName}"`;
    await page.getByTestId('search-input').fill(q);
    await page.getByTestId('search-input').press('Enter');
    await page.waitForFunction(() => location.hash.startsWith('#/search'));
    for (const id of ids.docs) await page.locator(`[data-testid="search-result"][data-doc-id="${id}"]`).waitFor();
    assert.match(await page.getByTestId('result-count').innerText(), /^3 results/);
    await page.getByTestId('search-sort').selectOption('-date');
    await page.waitForFunction(() => location.hash.includes('sort=-date'));
    // Newest document date first: the dated one (2025-06-30) before the two without a date.
    await page.locator(`[data-testid="search-result"][data-doc-id="${ids.docs[0]}"]`).waitFor();
    await page.getByTestId('save-as-view').click();
    const dlg = page.getByTestId('view-dialog');
    await dlg.waitFor();
    assert.equal(await dlg.getByTestId('view-query').inputValue(), q);
    assert.equal(await dlg.getByTestId('view-sort').inputValue(), '-date');
    await dlg.getByTestId('view-name').fill(viewName);
    await dlg.getByTestId('view-on-dashboard').check();
    await dlg.locator(`[data-testid="view-column"][data-column="field:${ids.amount}"]`).check();
    await clearToasts();
    await shot(page, `${tag}-dialog`);
    await dlg.getByTestId('view-save').click();
    await dlg.waitFor({ state: 'detached' });
    await page.waitForFunction(() => /^#\/view\/\d+/.test(location.hash));
    ids.view = Number((await page.evaluate(() => location.hash)).match(/^#\/view\/(\d+)/)[1]);
    const v = (await api('/views')).json.items.find((x) => x.id === ids.view);
    assert.equal(v.name, viewName);
    assert.equal(v.query, q);
    assert.equal(v.sort, '-date');
    assert.equal(v.on_dashboard, true);
    assert.deepEqual(v.columns, ['title', 'date', 'correspondent', 'tags', `field:${ids.amount}`]);
    // A query the server cannot read is shown at the query, and nothing is saved.
    await page.getByTestId('view-edit').click();
    await page.getByTestId('view-dialog').waitFor();
    await page.getByTestId('view-query').fill('nosuchfield>3');
    await page.getByTestId('view-save').click();
    await page.getByTestId('view-query-error').filter({ hasText: /nosuchfield/ }).waitFor();
    await shot(page, `${tag}-bad-query`);
    await page.keyboard.press('Escape');
    await page.getByTestId('view-dialog').waitFor({ state: 'detached' });
    assert.equal((await api('/views')).json.items.find((x) => x.id === ids.view).query, q, 'a bad query is not saved');
  });

  step('the dashboard shows the view with its three documents', async () => {
    await page.getByTestId('nav-dashboard').click();
    const card = page.locator(`[data-testid="dash-view"][data-view-id="${ids.view}"]`);
    await card.waitFor();
    assert.equal(await card.getByTestId('dash-view-link').innerText(), viewName);
    assert.equal(await card.getByTestId('dash-view-total').innerText(), '3');
    const shown = (await card.getByTestId('dash-doc').evaluateAll((els) => els.map((e) => Number(e.dataset.docId))));
    assert.deepEqual(shown.slice().sort((x, y) => x - y), ids.docs.slice().sort((x, y) => x - y));
    assert.equal(shown[0], ids.docs[0], 'in the view’s sort: the dated document first');
    assert.equal(await card.getByTestId('dash-view-more').count(), 0, 'no "more": all three are shown');
  });

  step('a view whose field was deleted says why on the dashboard; Delete removes the view', async (tag) => {
    const fieldName = `Doomed ${stamp}`;
    await page.getByTestId('nav-fields').click();
    await page.getByTestId('new-field-name').fill(fieldName);
    await page.getByTestId('new-field-kind').selectOption('integer');
    await page.getByTestId('new-field-submit').click();
    const frow = page.locator(`[data-testid="field-row"][data-name="${fieldName}"]`);
    await frow.waitFor();
    await page.getByTestId('nav-dashboard').click();
    await page.getByTestId('new-view').click();
    const dlg = page.getByTestId('view-dialog');
    await dlg.waitFor();
    await dlg.getByTestId('view-name').fill(fieldName);
    await dlg.getByTestId('view-query').fill(`"${fieldName}">1`);
    assert.equal(await dlg.getByTestId('view-on-dashboard').isChecked(), true, 'a view made on the dashboard is for the dashboard');
    await dlg.getByTestId('view-save').click();
    await page.waitForFunction(() => /^#\/view\/\d+/.test(location.hash));
    const doomed = Number((await page.evaluate(() => location.hash)).match(/^#\/view\/(\d+)/)[1]);
    await page.locator('.empty', { hasText: 'No documents in this view' }).waitFor();
    // The field goes: the view's query names a field that is no more.
    await page.getByTestId('nav-fields').click();
    await frow.getByTestId('field-delete').click();
    await page.getByTestId('confirm-ok').click();
    await frow.waitFor({ state: 'detached' });
    await page.getByTestId('nav-dashboard').click();
    const card = page.locator(`[data-testid="dash-view"][data-view-id="${doomed}"]`);
    const err = card.getByTestId('dash-view-error');
    await err.waitFor();
    assert.match(await err.innerText(), new RegExp(`does not work: .*${fieldName}`), await err.innerText());
    await clearToasts();
    await card.scrollIntoViewIfNeeded();
    await shot(page, `${tag}-dashboard`);
    await card.getByTestId('dash-view-link').click();
    await page.locator('.error-box', { hasText: 'does not work' }).waitFor();
    await page.getByTestId('view-delete').click();
    await page.getByTestId('delete-view-dialog').waitFor();
    await page.getByTestId('confirm-ok').click();
    await page.waitForFunction(() => location.hash === '#/');
    await page.getByTestId('dash-inbox').waitFor();
    assert.equal(await page.locator(`[data-testid="dash-view"][data-view-id="${doomed}"]`).count(), 0, 'the card is gone');
    assert.ok(!(await api('/views')).json.items.some((v) => v.id === doomed), 'the view is deleted');
    assert.ok((await api('/views')).json.items.some((v) => v.id === ids.view), 'the other view stays');
  });

  step('the view page: columns, then "Select all 3 matching" adds the tag', async (tag) => {
    await page.getByTestId('nav-dashboard').click();
    await page.locator(`[data-testid="dash-view"][data-view-id="${ids.view}"]`).getByTestId('dash-view-link').click();
    await page.waitForFunction((id) => location.hash === `#/view/${id}`, ids.view);
    await page.getByTestId('view-title').filter({ hasText: viewName }).waitFor();
    const rows = page.getByTestId('doc-row');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid="doc-row"]').length === 3);
    assert.equal(await page.getByTestId('view-count').innerText(), '3 of 3 documents');
    const amountCell = page.locator(`[data-testid="doc-row"][data-doc-id="${ids.docs[0]}"] [data-column="field:${ids.amount}"]`);
    assert.equal(await amountCell.innerText(), '99.50 EUR');
    assert.equal(await rows.first().getAttribute('data-doc-id'), String(ids.docs[0]));
    await rows.first().getByTestId('row-check').check();
    await page.getByTestId('select-all-matching').filter({ hasText: 'Select all 3 matching' }).click();
    await page.getByTestId('selection-count').filter({ hasText: 'All 3 matching documents selected' }).waitFor();
    await page.getByTestId('edit-selected').click();
    const dlg = page.getByTestId('bulk-edit-dialog');
    await dlg.waitFor();
    assert.match(await dlg.locator('h2').innerText(), /Edit all 3 matching documents/);
    await dlg.getByTestId('bulk-add-tags').selectOption(String(ids.tag));
    await dlg.getByTestId('bulk-add-tags-chips').filter({ hasText: tagName }).waitFor();
    await clearToasts();
    await shot(page, `${tag}-dialog`);
    await dlg.getByTestId('bulk-apply').click();
    const text = await bulkResult();
    assert.match(text, /Changed 3 documents/, text);
    const sent = bulkBodies.at(-1);
    assert.equal(sent.documents, undefined, 'all matching: no ids are sent');
    assert.equal(sent.query, `correspondent:"${corrName}"`);
    assert.deepEqual(sent.edit, { add_tags: [ids.tag] });
    await shot(page, `${tag}-done`);
    await dlg.getByTestId('bulk-close').click();
    await dlg.waitFor({ state: 'detached' });
    for (const id of ids.docs) {
      const d = await doc(id);
      assert.ok((d.tags || []).some((t) => t.id === ids.tag), `document ${id} carries the tag`);
      await page.locator(`[data-testid="doc-row"][data-doc-id="${id}"] [data-column="tags"] .tag`, { hasText: tagName }).waitFor();
    }
  });

  step('keys: ↓ moves, x selects, e opens the metadata editor', async () => {
    await clearToasts();
    await page.keyboard.press('Escape');
    await page.getByTestId('selection-bar').waitFor({ state: 'hidden' });
    await page.evaluate(() => { if (document.activeElement && document.activeElement !== document.body) document.activeElement.blur(); });
    await page.keyboard.press('ArrowDown');
    const current = page.locator('[data-testid="doc-row"].kbd-current');
    await current.waitFor();
    assert.equal(await current.count(), 1);
    const first = await page.getByTestId('doc-row').first().getAttribute('data-doc-id');
    assert.equal(await current.getAttribute('data-doc-id'), first, 'the first row is highlighted');
    assert.equal(await page.evaluate(() => document.activeElement?.dataset.docId), first, 'and has the focus');
    await page.keyboard.press('ArrowDown');
    const second = await page.getByTestId('doc-row').nth(1).getAttribute('data-doc-id');
    assert.equal(await current.getAttribute('data-doc-id'), second, '↓ again: the second row');
    await page.keyboard.press('x');
    await page.getByTestId('selection-count').filter({ hasText: '1 document selected' }).waitFor();
    assert.equal(await page.locator('[data-testid="doc-row"][aria-selected="true"]').count(), 1);
    assert.equal(await page.locator('[data-testid="doc-row"][aria-selected="true"]').getAttribute('data-doc-id'), second);
    await shot(page, 'views-keys-selected');
    // Typing in an input is never a shortcut.
    await page.getByTestId('search-input').focus();
    await page.keyboard.press('x');
    assert.equal(await page.locator('[data-testid="doc-row"][aria-selected="true"]').count(), 1, 'x typed in the search box selects nothing');
    assert.equal(await page.getByTestId('search-input').inputValue(), 'x');
    await page.getByTestId('search-input').fill('');
    await page.locator(`[data-testid="doc-row"][data-doc-id="${second}"]`).focus();
    await page.keyboard.press('e');
    await page.waitForFunction((id) => location.hash.startsWith(`#/doc/${id}`), Number(second));
    await page.getByTestId('meta-form').waitFor();
    assert.equal(await page.evaluate(() => location.hash.includes('edit=')), false, 'the address forgets the editor');
  });

  step('phone width and dark mode: dashboard and view page', async () => {
    await page.getByTestId('meta-cancel').click();
    for (const scheme of ['dark', 'light']) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const [w, hgt] of [[1280, 800], [390, 844]]) {
        await page.setViewportSize({ width: w, height: hgt });
        for (const [r, name] of [['#/', 'dashboard'], [`#/view/${ids.view}`, 'view']]) {
          await page.goto(`${env.url}/${r}`);
          await page.locator(name === 'view' ? '[data-testid="doc-row"]' : `[data-testid="dash-view"][data-view-id="${ids.view}"]`).first().waitFor();
          await page.waitForFunction(() => !document.querySelector('main .loading'), null, { timeout: 15_000 }).catch(() => {});
          await page.waitForTimeout(300); // the sidebar slides away at phone width
          const sw = await page.evaluate(() => document.documentElement.scrollWidth);
          assert.ok(sw <= w, `${name} at ${w} px (${scheme}) is ${sw} px wide`);
          await shot(page, `views-${w === 390 ? 'phone' : 'wide'}-${scheme}-${name}`);
        }
      }
    }
    // At phone width the view's columns read as labelled values under the title.
    const cell = page.locator(`[data-testid="doc-row"][data-doc-id="${ids.docs[0]}"] [data-column="field:${ids.amount}"]`);
    assert.ok(await cell.isVisible(), 'the Amount shows at phone width');
    await page.setViewportSize({ width: 1280, height: 800 });
  });
});
