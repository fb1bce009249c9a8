// Against a server started WITHOUT its runtime files (PDF library, OCR models): the administrator
// sees a banner saying so on every page, and an upload fails with the reason instead of waiting
// in the queue. (tests/it/browser.rs starts such a server for this file alone.)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { requireEnv, launch, shot, login } from './lib.mjs';

const env = requireEnv();

describe('missing runtime files', { timeout: 120_000 }, () => {
  let b; let page;
  before(async () => { b = await launch(); page = b.page; });
  after(async () => { if (b) await b.close(); });

  it('are shown to the administrator, and an upload fails with the reason', async () => {
    await login(page, env);
    const banner = page.getByTestId('runtime-banner');
    await banner.waitFor();
    const problem = await page.getByTestId('runtime-problem').innerText();
    assert.match(problem, /PDF library is missing/, problem);
    assert.match(problem, /DOCMERGE_RUNTIME_DIR/, problem);
    await shot(page, 'banner-01-start-page');
    // Upload the scan through the page's own upload input.
    const input = page.locator('input[type=file]').first();
    await input.setInputFiles(env.scan);
    // The document fails (not queued forever) and says why.
    await page.getByText(/PDF library is missing/).nth(1).waitFor({ timeout: 60_000 });
    await shot(page, 'banner-02-upload-failed');
    await page.goto(`${env.url}/#/tags`);
    await banner.waitFor();
    await shot(page, 'banner-03-every-page');
  });
});
