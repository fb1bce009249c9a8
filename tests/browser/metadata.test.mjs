// Document metadata through the web UI: correspondents, document types and custom fields are
// made on their own pages; a document gets a correspondent, a type (which brings its Amount
// field), a date, the next free ASN and an amount, saved with one PATCH and shown again after a
// reload; a bad amount shows the server's message next to the field and saves nothing; a taken
// ASN is refused inline; notes are added and edited; the history tells it all in words; the
// correspondent's count leads to the document; the view holds at phone width and in dark mode.
// Every screenshot (prefix metadata-) also checks the page shows no literal null/undefined/NaN.
// Env: as flow.test.mjs (DOCMERGE_URL, DOCMERGE_USER, DOCMERGE_PASSWORD, DOCMERGE_TEST_CORPUS).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { requireEnv, launch, shot, login, textPdf, pageApi, stepper } from './lib.mjs';

const env = requireEnv();
const READY_TIMEOUT = Number(process.env.DOCMERGE_READY_TIMEOUT_MS || 300_000);
const stamp = `${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
const corrName = `ACME ${stamp}`;
const typeName = `Invoice ${stamp}`;
const amountName = `Amount ${stamp}`;
const choiceName = `Priority ${stamp}`;
const noteText = `Paid by transfer (${stamp}).`;
const noteEdited = `Paid by transfer on the 20th (${stamp}).`;


let b; let page;
const ids = {}; // correspondent, type, amount, choice, doc, other, asn

const api = pageApi(() => page);
const doc = async (id = ids.doc) => (await api(`/documents/${id}`)).json;
const amountOf = (d) => (d.fields || []).find((f) => f.field_id === ids.amount);

const step = stepper(it, 'metadata', () => page);

/** Toasts of earlier steps go (they would cover the screenshots of this one). */
const clearToasts = () => page.evaluate(() => document.querySelectorAll('.toast').forEach((t) => t.remove()));

/** Open the document page and wait for its metadata panel. */
async function openDoc(id = ids.doc) {
  await page.goto(`${env.url}/#/doc/${id}`);
  await page.getByTestId('meta-read').waitFor();
}

describe('document metadata', { timeout: READY_TIMEOUT + 900_000 }, () => {
  before(async () => {
    b = await launch();
    page = b.page;
    page.on('pageerror', (e) => console.error('[pageerror]', e.message));
  });
  after(async () => { if (b) await b.close(); });

  step('log in', async () => {
    await login(page, env);
    for (const id of ['nav-correspondents', 'nav-document-types', 'nav-fields']) await page.getByTestId(id).waitFor();
  });

  step('create a correspondent', async () => {
    await page.getByTestId('nav-correspondents').click();
    await page.locator('h1', { hasText: 'Correspondents' }).waitFor();
    await page.getByTestId('new-correspondent-name').fill(corrName);
    await page.getByTestId('new-correspondent-submit').click();
    const row = page.locator(`[data-testid="correspondent-row"][data-name="${corrName}"]`);
    await row.waitFor();
    ids.correspondent = Number(await row.getAttribute('data-id'));
    assert.match(await row.getByTestId('correspondent-count').innerText(), /No documents/);
    const c = (await api('/correspondents')).json.items.find((x) => x.id === ids.correspondent);
    assert.equal(c.name, corrName);
    assert.equal(c.document_count, 0);
  });

  step('create fields: an Amount (money, EUR) and a Choice', async (tag) => {
    await page.getByTestId('nav-fields').click();
    await page.locator('h1', { hasText: 'Custom fields' }).waitFor();
    await page.getByTestId('new-field-name').fill(amountName);
    await page.getByTestId('new-field-kind').selectOption('monetary');
    assert.equal(await page.getByTestId('new-field-currency').inputValue(), 'EUR');
    await page.getByTestId('new-field-submit').click();
    const row = page.locator(`[data-testid="field-row"][data-name="${amountName}"]`);
    await row.waitFor();
    ids.amount = Number(await row.getAttribute('data-id'));
    assert.equal(await row.getAttribute('data-kind'), 'monetary');
    assert.match(await row.innerText(), /Amount \(money\).*default currency EUR/s);
    const f = (await api('/custom-fields')).json.items.find((x) => x.id === ids.amount);
    assert.equal(f.kind, 'monetary');
    assert.equal(f.currency, 'EUR');

    // A Choice field: options typed in the form (Enter adds the next one).
    await page.getByTestId('new-field-name').fill(choiceName);
    await page.getByTestId('new-field-kind').selectOption('select');
    await page.getByTestId('option-add').click();
    await page.getByTestId('option-input').last().fill('High');
    await page.getByTestId('option-input').last().press('Enter');
    await page.getByTestId('option-input').last().fill('Low');
    await shot(page, `${tag}-choice-form`);
    await page.getByTestId('new-field-submit').click();
    const crow = page.locator(`[data-testid="field-row"][data-name="${choiceName}"]`);
    await crow.waitFor();
    ids.choice = Number(await crow.getAttribute('data-id'));
    const choice = (await api('/custom-fields')).json.items.find((x) => x.id === ids.choice);
    assert.deepEqual(choice.options.map((o) => o.label), ['High', 'Low']);
    ids.options = choice.options;
  });

  step('choice options: rename keeps the id, removing warns', async (tag) => {
    const crow = page.locator(`[data-testid="field-row"][data-id="${ids.choice}"]`);
    await crow.getByTestId('field-options').click();
    const dlg = page.getByTestId('field-options-dialog');
    await dlg.waitFor();
    await dlg.getByTestId('option-input').first().fill('Urgent');
    await dlg.getByTestId('option-remove').last().click();
    assert.match(await dlg.getByTestId('options-warning').innerText(), /“Low” will be removed: documents that have it get an empty value/);
    await dlg.getByTestId('option-add').click();
    await dlg.getByTestId('option-input').last().fill('Someday');
    await shot(page, `${tag}-dialog`);
    await dlg.getByTestId('field-options-save').click();
    await dlg.waitFor({ state: 'detached' });
    const choice = (await api('/custom-fields')).json.items.find((x) => x.id === ids.choice);
    assert.deepEqual(choice.options.map((o) => o.label), ['Urgent', 'Someday']);
    assert.equal(choice.options[0].id, ids.options[0].id, 'the renamed option keeps its id');
    assert.ok(!choice.options.some((o) => o.id === ids.options[1].id), 'the removed option is gone');
    await crow.getByTestId('field-detail').filter({ hasText: 'Urgent, Someday' }).waitFor();
  });

  step('create a document type that brings Amount', async (tag) => {
    await page.getByTestId('nav-document-types').click();
    await page.locator('h1', { hasText: 'Document types' }).waitFor();
    await page.getByTestId('new-doctype-name').fill(typeName);
    await page.getByTestId('new-doctype-submit').click();
    // A new type asks at once which fields it brings.
    const dlg = page.getByTestId('type-fields-dialog');
    await dlg.waitFor();
    await dlg.locator(`[data-testid="type-field-row"][data-field-id="${ids.amount}"] [data-testid="type-field-check"]`).check();
    await shot(page, `${tag}-fields-dialog`);
    await dlg.getByTestId('type-fields-save').click();
    await dlg.waitFor({ state: 'detached' });
    const row = page.locator(`[data-testid="doctype-row"][data-name="${typeName}"]`);
    await row.getByTestId('doctype-defaults').filter({ hasText: amountName }).waitFor();
    ids.type = Number(await row.getAttribute('data-id'));
    const t = (await api('/document-types')).json.items.find((x) => x.id === ids.type);
    assert.deepEqual(t.default_fields, [ids.amount]);
  });

  step('upload two PDFs, wait until ready', async () => {
    await page.getByTestId('nav-recent').click();
    await page.locator('h1', { hasText: 'Recent' }).waitFor();
    await page.getByTestId('upload-input').setInputFiles([
      { name: `invoice-${stamp}.pdf`, mimeType: 'application/pdf', buffer: textPdf(`Invoice ${stamp} dated 2025-03-14 total 123.40 EUR`, 18) },
      { name: `other-${stamp}.pdf`, mimeType: 'application/pdf', buffer: textPdf(`Another letter ${stamp}`, 18) },
    ]);
    const tray = page.getByTestId('upload-tray');
    const item = (n) => tray.locator('[data-testid="upload-item"][data-doc-id]', { hasText: n });
    await item(`invoice-${stamp}`).waitFor({ timeout: 60_000 });
    await item(`other-${stamp}`).waitFor({ timeout: 60_000 });
    ids.doc = Number(await item(`invoice-${stamp}`).getAttribute('data-doc-id'));
    ids.other = Number(await item(`other-${stamp}`).getAttribute('data-doc-id'));
    const deadline = Date.now() + READY_TIMEOUT;
    for (;;) {
      const [a, o] = await Promise.all([doc(ids.doc), doc(ids.other)]);
      if (a.state === 'failed' || o.state === 'failed') throw new Error(`processing failed: ${a.error || o.error}`);
      if (a.state === 'ready' && o.state === 'ready') break;
      if (Date.now() > deadline) throw new Error(`not ready after ${READY_TIMEOUT} ms: ${a.state}, ${o.state}`);
      await page.waitForTimeout(500);
    }
  }, READY_TIMEOUT + 90_000);

  step('set correspondent, type, date, ASN, Amount; save', async (tag) => {
    if (await page.getByTestId('tray-close').isVisible()) await page.getByTestId('tray-close').click();
    await openDoc();
    const before = await doc();
    ids.extracted = typeof before.date_source === 'string' && before.date_source.startsWith('extracted:') ? before.date : null;
    if (ids.extracted) {
      // The date the processing read from the text is marked as such.
      assert.match(await page.getByTestId('meta-date-source').innerText(), /found in the text/);
    }
    await page.getByTestId('meta-edit').click();
    await page.getByTestId('meta-form').waitFor();
    await page.getByTestId('meta-correspondent-select').selectOption(String(ids.correspondent));
    await page.getByTestId('meta-doctype-select').selectOption(String(ids.type));
    // The type brings its field at once, empty.
    const amountRow = page.locator(`[data-testid="meta-field-row"][data-field-id="${ids.amount}"]`);
    await amountRow.waitFor();
    assert.equal(await amountRow.getByTestId('field-from').innerText(), `Comes with the type ${typeName}.`);
    assert.equal(await amountRow.getByTestId('field-currency').inputValue(), 'EUR');
    await page.getByTestId('meta-date-input').fill('2025-03-15');
    const next = (await api('/documents/next-asn')).json.asn;
    await page.getByTestId('meta-asn-next').click();
    await page.waitForFunction((n) => document.querySelector('[data-testid="meta-asn-input"]').value === String(n), next);
    ids.asn = next;
    await amountRow.getByTestId('field-amount').fill('123.4');
    await shot(page, `${tag}-form`);
    // Ctrl+Enter saves.
    await amountRow.getByTestId('field-amount').press('Control+Enter');
    await page.getByTestId('meta-read').waitFor();
    await page.locator('.toast', { hasText: 'Saved.' }).waitFor();
    const d = await doc();
    assert.equal(d.correspondent && d.correspondent.id, ids.correspondent);
    assert.equal(d.document_type && d.document_type.id, ids.type);
    assert.equal(d.date, '2025-03-15');
    assert.equal(d.date_source, 'user');
    assert.equal(d.asn, ids.asn);
    assert.deepEqual(amountOf(d).value, { amount: '123.40', currency: 'EUR' });
  });

  step('values shown after a reload', async () => {
    await page.reload();
    await page.getByTestId('meta-read').waitFor();
    assert.equal(await page.getByTestId('meta-correspondent').innerText(), corrName);
    assert.equal(await page.getByTestId('meta-doctype').innerText(), typeName);
    assert.match(await page.getByTestId('meta-date').innerText(), /March 15, 2025/);
    assert.equal(await page.getByTestId('meta-date-source').count(), 0, 'a date typed by a user is not marked as found in the text');
    assert.equal(await page.getByTestId('meta-asn').innerText(), String(ids.asn));
    assert.equal(await page.locator(`[data-testid="meta-field"][data-field-id="${ids.amount}"]`).innerText(), '123.40 EUR');
  });

  step('a bad amount: message at the field, nothing saved', async (tag) => {
    await page.getByTestId('meta-edit').click();
    const amountRow = page.locator(`[data-testid="meta-field-row"][data-field-id="${ids.amount}"]`);
    assert.equal(await amountRow.getByTestId('field-amount').inputValue(), '123.40');
    await amountRow.getByTestId('field-amount').fill('12,3,4');
    await page.getByTestId('meta-correspondent-select').selectOption('');
    await page.getByTestId('meta-save').click();
    const err = page.getByTestId(`meta-error-field-${ids.amount}`);
    await err.filter({ hasText: /./ }).waitFor();
    const msg = await err.innerText();
    assert.match(msg, new RegExp(`field "${amountName}"`, 'i'), `names the field: ${msg}`);
    assert.match(msg, /"12,3,4" is not an amount/);
    assert.equal(await amountRow.getByTestId('field-amount').getAttribute('aria-invalid'), 'true');
    await page.locator('.toast-error', { hasText: '12,3,4' }).waitFor();
    await shot(page, `${tag}-error`);
    // All or nothing: neither the amount nor the correspondent changed.
    const d = await doc();
    assert.deepEqual(amountOf(d).value, { amount: '123.40', currency: 'EUR' });
    assert.equal(d.correspondent && d.correspondent.id, ids.correspondent);
    await page.getByTestId('meta-cancel').click();
    await page.getByTestId('meta-read').waitFor();
    assert.equal(await page.getByTestId('meta-correspondent').innerText(), corrName);
  });

  step('a taken ASN is refused inline', async () => {
    const taken = ids.asn + 1000;
    const r = await api(`/documents/${ids.other}`, { method: 'PATCH', body: { asn: taken } });
    assert.equal(r.status, 200, r.text);
    await page.getByTestId('meta-edit').click();
    await page.getByTestId('meta-asn-input').fill(String(taken));
    await page.getByTestId('meta-save').click();
    const err = page.getByTestId('meta-error-asn');
    await err.filter({ hasText: /already used/ }).waitFor();
    assert.match(await err.innerText(), new RegExp(String(taken)));
    assert.equal((await doc()).asn, ids.asn);
    // A good value after the error: Next free again, and a new amount.
    await page.getByTestId('meta-asn-next').click();
    await page.waitForFunction((n) => document.querySelector('[data-testid="meta-asn-input"]').value !== String(n), taken);
    await page.getByTestId('meta-asn-input').fill(String(ids.asn));
    await page.locator(`[data-testid="meta-field-row"][data-field-id="${ids.amount}"]`).getByTestId('field-amount').fill('99.5');
    await page.getByTestId('meta-save').click();
    await page.getByTestId('meta-read').waitFor();
    await page.locator(`[data-testid="meta-field"][data-field-id="${ids.amount}"]`, { hasText: '99.50 EUR' }).waitFor();
    assert.deepEqual(amountOf(await doc()).value, { amount: '99.50', currency: 'EUR' });
  });

  step('add a note, then edit it', async (tag) => {
    const notes = page.getByTestId('notes');
    await notes.scrollIntoViewIfNeeded();
    await notes.getByTestId('note-input').fill(noteText);
    await notes.getByTestId('note-add').click();
    const note = notes.getByTestId('note').filter({ hasText: noteText });
    await note.waitFor();
    assert.match(await note.innerText(), new RegExp(env.user));
    await shot(page, `${tag}-added`);
    await note.getByTestId('note-edit').click();
    await notes.getByTestId('note-edit-input').fill(noteEdited);
    await notes.getByTestId('note-save').click();
    const edited = notes.getByTestId('note').filter({ hasText: noteEdited });
    await edited.waitFor();
    await edited.getByTestId('note-edited').waitFor();
    const list = (await api(`/documents/${ids.doc}/notes`)).json.items;
    assert.equal(list.length, 1);
    assert.equal(list[0].body, noteEdited);
    assert.equal(list[0].editable, true);
  });

  step('history in words', async () => {
    const hist = page.getByTestId('history-list');
    await hist.scrollIntoViewIfNeeded();
    await hist.getByTestId('history-entry').filter({ hasText: 'edited a note' }).waitFor();
    const text = (await hist.innerText()).replace(/\s+/g, ' ');
    const expect = [
      `${env.user} set the correspondent to ${corrName}`,
      `${env.user} set the type to ${typeName}`,
      `${env.user} set ${amountName} to 123.40 EUR`,
      `${env.user} changed ${amountName} from 123.40 EUR to 99.50 EUR`,
      `${env.user} set the ASN to ${ids.asn}`,
      `${env.user} added a note: “${noteText}”`,
      `${env.user} edited a note: “${noteEdited}”`,
      'docmerge processed 1 page',
    ];
    for (const e of expect) assert.ok(text.includes(e), `the history says “${e}”:\n${text}`);
    if (ids.extracted) assert.match(text, /docmerge found the date .* in the text/);
    // Newest first: the note edit is above the amount change.
    assert.ok(text.indexOf('edited a note') < text.indexOf(`changed ${amountName}`), 'newest first');
    const h = (await api(`/documents/${ids.doc}/history`)).json;
    assert.equal(await hist.getByTestId('history-entry').count(), Math.min(20, h.total));
  });

  step('correspondent count links to its documents', async () => {
    await page.getByTestId('nav-correspondents').click();
    const row = page.locator(`[data-testid="correspondent-row"][data-id="${ids.correspondent}"]`);
    const count = row.getByTestId('correspondent-count');
    await count.filter({ hasText: '1 document' }).waitFor();
    assert.equal((await count.innerText()).trim(), '1 document');
    await count.click();
    await page.waitForFunction((id) => location.hash === `#/documents?correspondent=${id}`, ids.correspondent);
    await page.getByTestId('documents-title').filter({ hasText: corrName }).waitFor();
    const rows = page.getByTestId('documents-row');
    await rows.first().waitFor();
    assert.equal(await rows.count(), 1);
    assert.equal(Number(await rows.first().getAttribute('data-doc-id')), ids.doc);
    assert.match(await rows.first().innerText(), /Mar 15, 2025/);
    assert.match(await rows.first().innerText(), new RegExp(typeName));
  });

  step('Recent shows date and correspondent', async () => {
    await page.getByTestId('nav-recent').click();
    const row = page.locator(`[data-testid="doc-row"][data-doc-id="${ids.doc}"]`);
    await row.waitFor();
    assert.equal(await row.getByTestId('row-correspondent').innerText(), corrName);
    assert.equal(await row.getByTestId('row-date').innerText(), 'Mar 15, 2025');
  });

  step('phone width and dark mode', async (tag) => {
    await page.setViewportSize({ width: 390, height: 844 });
    await openDoc();
    await clearToasts();
    await page.waitForTimeout(400); // the sidebar slides away at phone width
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(wide <= 390, `no sideways scrolling at 390 px (${wide})`);
    await page.getByTestId('meta-panel').scrollIntoViewIfNeeded();
    await shot(page, `${tag}-phone-read`);
    await page.getByTestId('meta-edit').click();
    await page.getByTestId('meta-form').waitFor();
    await page.getByTestId('meta-panel').scrollIntoViewIfNeeded();
    await shot(page, `${tag}-phone-edit`);
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth) <= 390, 'the form fits at 390 px');
    await page.getByTestId('meta-cancel').click();
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.getByTestId('meta-panel').scrollIntoViewIfNeeded();
    await shot(page, `${tag}-phone-dark`);
    await page.getByTestId('history').scrollIntoViewIfNeeded();
    await shot(page, `${tag}-phone-dark-history`);
    await page.setViewportSize({ width: 1280, height: 800 });
    await openDoc();
    await shot(page, `${tag}-desktop-dark`);
    await page.getByTestId('meta-edit').click();
    await shot(page, `${tag}-desktop-dark-edit`);
    await page.getByTestId('meta-cancel').click();
    await page.emulateMedia({ colorScheme: 'light' });
  });

  step('merge and delete a correspondent', async (tag) => {
    const oldName = `Old ACME ${stamp}`;
    await page.getByTestId('nav-correspondents').click();
    await page.getByTestId('new-correspondent-name').fill(oldName);
    await page.getByTestId('new-correspondent-submit').click();
    const oldRow = page.locator(`[data-testid="correspondent-row"][data-name="${oldName}"]`);
    await oldRow.waitFor();
    const oldId = Number(await oldRow.getAttribute('data-id'));
    const r = await api(`/documents/${ids.other}`, { method: 'PATCH', body: { correspondent_id: oldId } });
    assert.equal(r.status, 200, r.text);
    await page.reload();
    await oldRow.getByTestId('correspondent-count').filter({ hasText: '1 document' }).waitFor();
    await oldRow.getByTestId('correspondent-merge').click();
    const dlg = page.getByTestId('merge-correspondent-dialog');
    await dlg.waitFor();
    await dlg.getByTestId('merge-into').selectOption(String(ids.correspondent));
    assert.match(await dlg.getByTestId('merge-explain').innerText(), new RegExp(`The document with “${oldName}” gets “${corrName}” instead`));
    await shot(page, `${tag}-merge-dialog`);
    await dlg.getByTestId('merge-confirm').click();
    await dlg.waitFor({ state: 'detached' });
    await oldRow.waitFor({ state: 'detached' });
    assert.equal((await doc(ids.other)).correspondent.id, ids.correspondent);
    const row = page.locator(`[data-testid="correspondent-row"][data-id="${ids.correspondent}"]`);
    await row.getByTestId('correspondent-count').filter({ hasText: '2 documents' }).waitFor();
    await row.getByTestId('correspondent-delete').click();
    const del = page.getByTestId('delete-correspondent-dialog');
    await del.waitFor();
    assert.match(await del.innerText(), new RegExp(`2 documents have “${corrName}”`));
    await shot(page, `${tag}-delete-dialog`);
    await page.getByTestId('confirm-ok').click();
    await row.waitFor({ state: 'detached' });
    for (const id of [ids.doc, ids.other]) assert.equal((await doc(id)).correspondent, null);
  });
});
