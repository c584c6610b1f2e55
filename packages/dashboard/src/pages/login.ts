// Sign-in: the operator's password (COLLOQUY_ADMIN_PASSWORD, or the one printed at first start).

import { api, ApiError, setCsrfToken, type MeResponse } from '../api';
import { h, replace } from '../dom';
import { navigate } from '../router';

export function loginPage(main: HTMLElement): void {
  const password = h('input', { type: 'password', id: 'password', name: 'password', autocomplete: 'current-password', required: true, autofocus: true });
  const message = h('p', { class: 'form-error', role: 'alert' });
  const button = h('button', { type: 'submit', class: 'primary' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'card login',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        button.disabled = true;
        message.textContent = '';
        try {
          const me = await api<MeResponse>('POST', '/login', { password: password.value });
          setCsrfToken(me.signedIn ? me.csrfToken : null);
          navigate('/projects');
        } catch (err) {
          message.textContent = err instanceof ApiError && err.status === 401 ? 'Wrong password.' : (err as Error).message;
          password.select();
        } finally {
          button.disabled = false;
        }
      },
    },
    h('h1', null, 'Sign in'),
    h('p', { class: 'muted' }, 'The operator password is COLLOQUY_ADMIN_PASSWORD, or the one the server printed at its first start.'),
    h('label', { for: 'password' }, 'Password'),
    password,
    message,
    button,
  );
  replace(main, form);
}
