import { h, put } from '../dom.js';
import { post, setCsrf } from '../api.js';
import { navigate } from '../router.js';
import { setTitle } from '../ui.js';

// `establish(me)` starts the signed-in app (passed in by app.js, which owns the session).
export function loginView({ query }, establish) {
  setTitle('Sign in');
  const main = document.getElementById('main');
  const user = h('input', { id: 'login-username', name: 'username', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false', 'data-testid': 'login-username' });
  const pass = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, 'data-testid': 'login-password' });
  const err = h('p', { class: 'login-error', id: 'login-error', role: 'alert', 'data-testid': 'login-error' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', 'data-testid': 'login-submit' }, 'Sign in');
  const form = h('form', { class: 'login-card', 'aria-labelledby': 'login-title', 'data-testid': 'login-form', novalidate: true },
    h('div', { class: 'login-brand' },
      h('img', { src: 'favicon.svg', alt: '', width: 40, height: 40 }),
      h('h1', { id: 'login-title' }, 'Sign in to docmerge')),
    h('div', { class: 'field' }, h('label', { for: 'login-username' }, 'Username'), user),
    h('div', { class: 'field' }, h('label', { for: 'login-password' }, 'Password'), pass),
    err, submit);

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.textContent = '';
    if (!user.value.trim() || !pass.value) {
      err.textContent = 'Enter your username and password.';
      (user.value.trim() ? pass : user).focus();
      return;
    }
    submit.disabled = true;
    submit.textContent = 'Signing in…';
    try {
      const res = await post('/auth/login', { username: user.value.trim(), password: pass.value });
      setCsrf(res.csrf_token);
      await establish({ ...res.user, csrf_token: res.csrf_token });
      const next = query.get('next');
      if (next && next.startsWith('/') && !next.startsWith('/login')) location.hash = `#${next}`;
      else navigate('/');
    } catch (ex) {
      if (ex.status === 401) err.textContent = 'Wrong username or password.';
      else if (ex.status === 429) err.textContent = 'Too many failed attempts. Wait a minute, then try again.';
      else err.textContent = ex.message || 'Sign-in failed.';
      pass.value = '';
      pass.focus();
      user.setAttribute('aria-invalid', ex.status === 401 ? 'true' : 'false');
      pass.setAttribute('aria-invalid', ex.status === 401 ? 'true' : 'false');
    } finally {
      submit.disabled = false;
      submit.textContent = 'Sign in';
    }
  });
  form.setAttribute('aria-describedby', 'login-error');
  put(main, h('div', { class: 'login-wrap' }, form));
  user.focus();
}
