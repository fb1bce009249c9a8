// Shared helpers for the docmerge browser tests: env, browser launch, screenshots.
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const HERE = dirname(fileURLToPath(import.meta.url));
// Screenshots go here (tests/browser/output unless DOCMERGE_BROWSER_OUTPUT names another folder).
export const OUTPUT = process.env.DOCMERGE_BROWSER_OUTPUT || join(HERE, 'output');

/** Read required env vars; throw one loud error naming every missing one. */
export function requireEnv() {
  const names = ['DOCMERGE_URL', 'DOCMERGE_USER', 'DOCMERGE_PASSWORD', 'DOCMERGE_TEST_CORPUS'];
  const missing = names.filter((n) => !process.env[n]);
  if (missing.length) {
    throw new Error(`docmerge browser tests need these environment variables: ${missing.join(', ')} ` +
      '(DOCMERGE_URL=http://127.0.0.1:PORT, DOCMERGE_USER/DOCMERGE_PASSWORD of an admin, DOCMERGE_TEST_CORPUS=dir with scan-phototest.png)');
  }
  const corpus = process.env.DOCMERGE_TEST_CORPUS;
  const scan = join(corpus, 'scan-phototest.png');
  const gt = join(corpus, 'scan-phototest.gt.txt');
  for (const f of [scan, gt]) if (!existsSync(f)) throw new Error(`DOCMERGE_TEST_CORPUS: ${f} does not exist`);
  return {
    url: process.env.DOCMERGE_URL.replace(/\/+$/, ''),
    user: process.env.DOCMERGE_USER,
    password: process.env.DOCMERGE_PASSWORD,
    scan, gt,
  };
}

export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--no-first-run', '--disable-sync', '--disable-quic',
];

/** Launch Debian's Chromium headless with a fresh temporary profile. */
export async function launch({ width = 1280, height = 800 } = {}) {
  const executablePath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`Chromium not found at ${executablePath} (apt-get install -y chromium, or set CHROMIUM_PATH)`);
  const userDataDir = mkdtempSync(join(tmpdir(), 'docmerge-e2e-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width, height },
    acceptDownloads: true,
    locale: 'en-US',
    timezoneId: 'UTC',
  });
  context.setDefaultTimeout(20_000);
  const page = context.pages()[0] || await context.newPage();
  const close = async () => {
    await context.close().catch(() => {});
    rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, page, close };
}

/** Literal programming values that must never reach the screen, as whole words. */
export const LITERALS = /(?<![\w-])(null|undefined|NaN)(?![\w-])|\[object Object\]/;

/**
 * Fail when the rendered text of the page (document.body.innerText: what is visible, dialogs
 * and the tray included) shows a literal null, undefined, NaN or [object Object].
 */
export async function assertNoLiterals(page, where = '') {
  const text = await page.evaluate(() => (document.body ? document.body.innerText : ''));
  const m = LITERALS.exec(text);
  if (m) {
    const at = Math.max(0, m.index - 60);
    const context = text.slice(at, m.index + m[0].length + 60).replace(/\s+/g, ' ');
    throw new Error(`the page${where ? ` (${where})` : ''} shows a literal "${m[0]}": …${context}…`);
  }
}

/** Screenshot into OUTPUT, after checking the page shows no literal null/undefined/NaN/[object Object]. */
export async function shot(page, name, { check = true } = {}) {
  mkdirSync(OUTPUT, { recursive: true });
  const path = join(OUTPUT, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  if (check) await assertNoLiterals(page, `${name}, ${page.url()}`);
  return path;
}

/** Sign in through the login form. */
export async function login(page, env) {
  await page.goto(`${env.url}/#/login`);
  await page.getByTestId('login-username').fill(env.user);
  await page.getByTestId('login-password').fill(env.password);
  await page.getByTestId('login-submit').click();
  // The start page is the dashboard (#/); a ?next= target may be any other page.
  await page.waitForFunction(() => location.hash && !location.hash.startsWith('#/login'), null, { timeout: 20_000 });
  await page.locator('#main > *').first().waitFor();
}

/** Open the Home folder from the navigation (the start page is the dashboard). */
export async function openHome(page) {
  await page.getByTestId('nav-home').click();
  await page.waitForFunction(() => /^#\/folder\/\d+/.test(location.hash));
  await page.getByTestId('new-folder-button').waitFor();
}

export function isLocalUrl(u, allowedHosts = []) {
  let url;
  try { url = new URL(u); } catch { return false; }
  if (url.protocol === 'data:' || url.protocol === 'blob:' || url.protocol === 'about:') return true;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host) || allowedHosts.includes(host);
}

/** A born-digital one-page PDF with `text` in Helvetica at `size` pt: fast to process, and its
 *  text (unique per run) makes it unique. */
export function textPdf(text, size = 24) {
  const content = `BT /F1 ${size} Tf 72 720 Td (${text}) Tj ET`;
  const objects = ['<< /Type /Catalog /Pages 2 0 R >>', '<< /Type /Pages /Kids [4 0 R] /Count 1 >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 5 0 R /Resources << /Font << /F1 3 0 R >> >> >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`];
  let out = '%PDF-1.4\n';
  const offsets = [];
  objects.forEach((o, i) => { offsets.push(out.length); out += `${i + 1} 0 obj\n${o}\nendobj\n`; });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const off of offsets) out += `${String(off).padStart(10, '0')} 00000 n \n`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** The REST API with the page's session (and its CSRF token for writes): `{status, json, text}`.
 *  `getPage` gives the current page. */
export function pageApi(getPage) {
  return (path, { method = 'GET', body } = {}) => getPage().evaluate(async ({ path, method, body }) => {
    const m = document.cookie.match(/(?:^|;\s*)docmerge_csrf=([^;]*)/);
    const headers = { Accept: 'application/json' };
    if (method !== 'GET') { headers['Content-Type'] = 'application/json'; if (m) headers['X-CSRF-Token'] = decodeURIComponent(m[1]); }
    const r = await fetch(`/api/v1${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
    const text = await r.text();
    let json = null; try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, json, text };
  }, { path, method, body });
}

/** The steps of one test file: each a node:test `it` that is skipped once an earlier step
 *  failed, with a screenshot `<prefix>-NN-<name>` after it (`…-FAILED` when it throws). */
export function stepper(it, prefix, getPage) {
  let failed = false; let n = 0;
  return (name, fn, timeout = 90_000) => it(name, { timeout }, async (t) => {
    if (failed) { t.skip('an earlier step failed'); return; }
    n += 1;
    const tag = `${prefix}-${String(n).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`.replace(/-+$/, '');
    try {
      await fn(tag);
      await shot(getPage(), tag);
    } catch (e) {
      failed = true;
      await shot(getPage(), `${tag}-FAILED`, { check: false }).catch(() => {});
      throw e;
    }
  });
}
