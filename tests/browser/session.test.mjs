// A session ended elsewhere (signed out in another tab, revoked, password reset) signs the open
// page out at once: its websocket is closed with 4401 and the app goes to the sign-in page with a
// message, instead of retrying a dead connection.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { requireEnv, launch, shot, login, assertNoLiterals } from './lib.mjs';

const env = requireEnv();

describe('a session ended elsewhere', { timeout: 120_000 }, () => {
  let b; let page;
  before(async () => { b = await launch(); page = b.page; });
  after(async () => { if (b) await b.close(); });

  it('signs the open page out with a message', async () => {
    // The websocket is live once its first message (hello) arrived; listened for from the start,
    // since the hello can arrive before login() returns.
    const live = new Promise((resolve) => page.on('websocket', (ws) => ws.on('framereceived', () => resolve())));
    await login(page, env);
    await Promise.race([live, new Promise((_, reject) => setTimeout(() => reject(new Error('no websocket message within 20 s')), 20_000))]);
    await shot(page, 'session-01-signed-in');
    // Sign this browser's session out from outside the page: its own cookie and CSRF token,
    // sent by another client (as another tab or a revocation would end it).
    const cookies = await b.context.cookies();
    const session = cookies.find((c) => c.name === 'docmerge_session');
    const csrf = cookies.find((c) => c.name === 'docmerge_csrf');
    assert.ok(session && csrf, 'the browser holds a session');
    const res = await fetch(`${env.url}/api/v1/auth/logout`, {
      method: 'POST',
      headers: { Cookie: `docmerge_session=${session.value}`, 'X-CSRF-Token': csrf.value },
    });
    assert.equal(res.status, 204);
    // Without any click: the page goes to the sign-in form and says why.
    await page.waitForFunction(() => location.hash.startsWith('#/login'), null, { timeout: 10_000 });
    const toast = page.getByTestId('toast').filter({ hasText: /session has ended/i });
    await toast.first().waitFor({ timeout: 5_000 });
    await shot(page, 'session-02-signed-out-by-revocation');
    await assertNoLiterals(page, 'signed out');
  });
});
