// Demo tokens: pick the project (header), make a routed or relayed session or paste an existing id,
// choose role, connection data and expiry, and get a token to copy plus a test page that joins
// the session with it.

import { api, encode, type ProjectDetail, type SessionListItem, type TokenResponse } from '../api';
import { copyToClipboard, h, replace } from '../dom';
import { link } from '../router';
import { currentProjectId } from '../state';
import { showError } from './projects';

const EXPIRIES: Array<[number, string]> = [
  [3600, '1 hour'],
  [86_400, '1 day'],
  [7 * 86_400, '7 days'],
  [30 * 86_400, '30 days'],
];

export async function tokensPage(main: HTMLElement): Promise<void> {
  const projectId = currentProjectId();
  if (!projectId) {
    replace(main, h('h1', null, 'Demo tokens'), h('p', null, 'Create a project first: ', h('a', { href: link('/projects') }, 'Projects'), '.'));
    return;
  }
  const project = await api<ProjectDetail>('GET', `/projects/${encode(projectId)}`);
  const recent = await api<SessionListItem[]>('GET', `/projects/${encode(projectId)}/sessions?limit=20`);
  const result = h('div', { id: 'token-result' });

  const sessionMode = h(
    'select',
    { id: 'session-mode' },
    h('option', { value: 'routed' }, 'New routed session (through the server)'),
    h('option', { value: 'relayed' }, 'New relayed session (peer to peer)'),
    h('option', { value: 'existing' }, 'Existing session'),
  );
  const existing = h('input', { id: 'session-id', list: 'recent-sessions', placeholder: '1_MX4…', autocomplete: 'off' });
  const existingRow = h('div', { class: 'field', hidden: true }, h('label', { for: 'session-id' }, 'Session ID'), existing);
  const datalist = h('datalist', { id: 'recent-sessions' }, recent.map((s) => h('option', { value: s.sessionId }, `${s.mediaMode}, ${new Date(s.createdAt).toLocaleString()}`)));
  sessionMode.addEventListener('change', () => (existingRow.hidden = sessionMode.value !== 'existing'));

  const role = h(
    'select',
    { id: 'role' },
    h('option', { value: 'publisher', selected: true }, 'publisher'),
    h('option', { value: 'subscriber' }, 'subscriber'),
    h('option', { value: 'publisheronly' }, 'publisheronly'),
    h('option', { value: 'moderator' }, 'moderator'),
  );
  const data = h('input', { id: 'connection-data', placeholder: 'name=Ada', maxlength: 1000 });
  const expiry = h('select', { id: 'expiry' }, EXPIRIES.map(([s, label]) => h('option', { value: s, selected: s === 86_400 }, label)));
  const kind = h('select', { id: 'token-kind' }, h('option', { value: 'jwt' }, 'JWT'), h('option', { value: 't1' }, 'T1 (legacy)'));
  const privateKey = h('textarea', { id: 'private-key-input', rows: 4, placeholder: '-----BEGIN PRIVATE KEY-----' });

  const form = h(
    'form',
    {
      class: 'card stack-form',
      id: 'token-form',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        replace(result);
        // A new session is made by the token call itself, once the token can be signed: a refused
        // token (an application's missing or wrong private key) leaves no session behind.
        const target = sessionMode.value === 'existing' ? { sessionId: existing.value.trim() } : { newSession: { mediaMode: sessionMode.value } };
        const body: Record<string, unknown> = { ...target, role: role.value, ttlSeconds: Number(expiry.value) };
        if (data.value) body['data'] = data.value;
        if (project.kind === 'project') body['kind'] = kind.value;
        else body['privateKey'] = privateKey.value;
        const t = await api<TokenResponse>('POST', `/projects/${encode(project.id)}/tokens`, body).catch(showError(result));
        if (!t) return;
        const tokenBox = h('textarea', { id: 'token-output', readonly: true, rows: 4 }, t.token);
        const copy = h('button', { type: 'button', id: 'copy-token', onclick: () => void copyToClipboard(t.token, copy) }, 'Copy token');
        replace(
          result,
          h(
            'section',
            { class: 'card notice' },
            h('h2', null, 'Token'),
            h('dl', { class: 'kv' }, h('dt', null, project.kind === 'project' ? 'API key' : 'Application ID'), h('dd', null, h('code', null, t.apiKey)), h('dt', null, 'Session ID'), h('dd', null, h('code', { id: 'token-session-id' }, t.sessionId)), h('dt', null, 'Role'), h('dd', null, t.role), h('dt', null, 'Expires'), h('dd', null, new Date(t.expireTime * 1000).toLocaleString())),
            tokenBox,
            h(
              'p',
              { class: 'actions' },
              copy,
              h('a', { class: 'button primary', id: 'open-test-page', href: t.testPageUrl, target: '_blank', rel: 'noopener' }, 'Open test page'),
              h('a', { class: 'button', id: 'watch-live', href: link(`/live/${project.id}/${t.sessionId}`) }, 'Watch live'),
              h('a', { class: 'button', href: link(`/inspector/${project.id}/${t.sessionId}`) }, 'Inspector'),
            ),
            h('p', { class: 'muted' }, 'The test page joins the session with this token using the browser SDK (/v2/js/opentok.js), publishes when the role allows, and subscribes to every stream.'),
          ),
        );
      },
    },
    h('div', { class: 'field' }, h('label', { for: 'session-mode' }, 'Session'), sessionMode),
    existingRow,
    datalist,
    h('div', { class: 'field' }, h('label', { for: 'role' }, 'Role'), role),
    h('div', { class: 'field' }, h('label', { for: 'connection-data' }, 'Connection data'), data),
    h('div', { class: 'field' }, h('label', { for: 'expiry' }, 'Expires in'), expiry),
    project.kind === 'project'
      ? h('div', { class: 'field' }, h('label', { for: 'token-kind' }, 'Format'), kind)
      : h('div', { class: 'field' }, h('label', { for: 'private-key-input' }, "Application's private key (used once, not kept)"), privateKey),
    h('button', { type: 'submit', class: 'primary', id: 'generate-token' }, 'Generate token'),
  );

  replace(main, h('h1', null, 'Demo tokens'), h('p', { class: 'muted' }, 'Project ', h('strong', null, project.name), ' (', h('code', null, project.id), ')'), form, result);
}
