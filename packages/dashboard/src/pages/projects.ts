// Projects: list and create (legacy API key + secret, or a Vonage-style application with a public
// key); one project's keys, secret rotation, public key replacement, callback URLs, sessions, and
// deletion after typing its id.

import { api, encode, type CreatedApplication, type ProjectDetail, type ProjectSummary, type SessionListItem } from '../api';
import { copyToClipboard, formatDateTime, h, replace, sessionTail, shortId } from '../dom';
import { link, navigate } from '../router';
import { refreshProjects, setCurrentProject } from '../state';

export async function projectsPage(main: HTMLElement): Promise<void> {
  const projects = await api<ProjectSummary[]>('GET', '/projects');
  const created = h('div', { id: 'created' });

  const name = h('input', { id: 'new-project-name', placeholder: 'My app', maxlength: 100, required: true });
  const createProject = h(
    'form',
    {
      class: 'inline-form',
      id: 'create-project',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const p = await api<ProjectDetail>('POST', '/projects', { name: name.value }).catch(showError(created));
        if (!p) return;
        setCurrentProject(p.id);
        await refreshProjects();
        navigate(`/projects/${p.id}`);
      },
    },
    h('label', { for: 'new-project-name' }, 'Name'),
    name,
    h('button', { type: 'submit', class: 'primary' }, 'Create project'),
  );

  const appName = h('input', { id: 'new-app-name', placeholder: 'My Vonage app', maxlength: 100, required: true });
  const appKey = h('textarea', { id: 'new-app-key', rows: 4, placeholder: '-----BEGIN PUBLIC KEY-----  (leave empty to generate a key pair)' });
  const createApp = h(
    'form',
    {
      class: 'stack-form',
      id: 'create-application',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const body = appKey.value.trim() ? { name: appName.value, publicKey: appKey.value } : { name: appName.value };
        const a = await api<CreatedApplication>('POST', '/applications', body).catch(showError(created));
        if (!a) return;
        setCurrentProject(a.id);
        await refreshProjects();
        if (!a.privateKey) {
          navigate(`/projects/${a.id}`);
          return;
        }
        const copy = h('button', { type: 'button', onclick: () => void copyToClipboard(a.privateKey!, copy) }, 'Copy');
        replace(
          created,
          h(
            'div',
            { class: 'card notice' },
            h('h2', null, `Application ${a.name} created`),
            h('p', null, 'Application ID: ', h('code', null, a.id)),
            h('p', null, h('strong', null, 'Its private key, shown only this once:'), ' the server keeps only the public key.'),
            h('pre', { class: 'secret', id: 'private-key' }, a.privateKey),
            copy,
            ' ',
            h('a', { href: link(`/projects/${a.id}`) }, 'Open the application'),
          ),
        );
      },
    },
    h('label', { for: 'new-app-name' }, 'Name'),
    appName,
    h('label', { for: 'new-app-key' }, 'RSA public key (PEM), optional'),
    appKey,
    h('button', { type: 'submit' }, 'Create application'),
  );

  replace(
    main,
    h('h1', null, 'Projects'),
    created,
    h(
      'table',
      { class: 'table', id: 'projects-table' },
      h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Kind'), h('th', null, 'API key / application ID'), h('th', null, 'Sessions'), h('th', null, 'Created'))),
      h(
        'tbody',
        null,
        projects.length === 0 ? h('tr', null, h('td', { colspan: 5, class: 'muted' }, 'No projects yet.')) : null,
        projects.map((p) =>
          h(
            'tr',
            null,
            h('td', null, h('a', { href: link(`/projects/${p.id}`) }, p.name)),
            h('td', null, p.kind === 'project' ? 'project' : 'application'),
            h('td', null, h('code', null, p.id)),
            h('td', null, p.sessions),
            h('td', null, formatDateTime(p.createdAt)),
          ),
        ),
      ),
    ),
    h('div', { class: 'grid2' }, h('section', { class: 'card' }, h('h2', null, 'New project'), h('p', { class: 'muted' }, 'An API key and secret, as OpenTok projects have.'), createProject), h('section', { class: 'card' }, h('h2', null, 'New application'), h('p', { class: 'muted' }, 'A Vonage-style application: a UUID and an RSA key pair for @vonage/video.'), createApp)),
  );
}

export async function projectPage(main: HTMLElement, params: Record<string, string>): Promise<void> {
  const id = params['id']!;
  const project = await api<ProjectDetail>('GET', `/projects/${encode(id)}`);
  setCurrentProject(project.id);
  const status = h('div', { id: 'project-status' });

  const credentials = h('section', { class: 'card' });
  const drawCredentials = (p: ProjectDetail) => {
    if (p.kind === 'project') {
      const secret = h('code', { id: 'api-secret', class: 'secret hidden-secret' }, '••••••••••••••••');
      let shown = false;
      const toggle = h(
        'button',
        {
          type: 'button',
          id: 'show-secret',
          onclick: () => {
            shown = !shown;
            secret.textContent = shown ? p.secret! : '••••••••••••••••';
            toggle.textContent = shown ? 'Hide' : 'Show';
          },
        },
        'Show',
      );
      const copy = h('button', { type: 'button', onclick: () => void copyToClipboard(p.secret!, copy) }, 'Copy');
      const confirmBox = h('div', { class: 'confirm', hidden: true });
      const rotate = h(
        'button',
        {
          type: 'button',
          id: 'rotate-secret',
          onclick: () => {
            confirmBox.hidden = false;
            replace(
              confirmBox,
              h('p', null, 'The old secret stops working at once: REST calls and tokens signed with it are refused.'),
              h(
                'button',
                {
                  class: 'danger',
                  id: 'confirm-rotate',
                  onclick: async () => {
                    const rotated = await api<ProjectDetail>('POST', `/projects/${encode(p.id)}/rotate-secret`).catch(showError(status));
                    if (!rotated) return;
                    replace(status, h('div', { class: 'ok-box' }, 'Secret rotated.'));
                    drawCredentials(rotated);
                  },
                },
                'Rotate now',
              ),
              ' ',
              h('button', { onclick: () => (confirmBox.hidden = true) }, 'Cancel'),
            );
          },
        },
        'Rotate secret',
      );
      replace(
        credentials,
        h('h2', null, 'Credentials'),
        h('dl', { class: 'kv' }, h('dt', null, 'API key'), h('dd', null, h('code', { id: 'api-key' }, p.id)), h('dt', null, 'API secret'), h('dd', null, secret, ' ', toggle, ' ', copy)),
        rotate,
        confirmBox,
      );
    } else {
      const key = h('textarea', { id: 'replace-public-key', rows: 5, placeholder: '-----BEGIN PUBLIC KEY-----' });
      replace(
        credentials,
        h('h2', null, 'Credentials'),
        h('dl', { class: 'kv' }, h('dt', null, 'Application ID'), h('dd', null, h('code', { id: 'api-key' }, p.id))),
        h('h3', null, 'Public key'),
        h('pre', { class: 'pem', id: 'public-key' }, p.publicKey ?? ''),
        h(
          'form',
          {
            class: 'stack-form',
            onsubmit: async (e: Event) => {
              e.preventDefault();
              const updated = await api<ProjectDetail>('PUT', `/projects/${encode(p.id)}/public-key`, { publicKey: key.value }).catch(showError(status));
              if (!updated) return;
              replace(status, h('div', { class: 'ok-box' }, 'Public key replaced: tokens and REST calls signed with the old private key are refused.'));
              drawCredentials(updated);
            },
          },
          h('label', { for: 'replace-public-key' }, 'Replace the public key'),
          key,
          h('button', { type: 'submit' }, 'Replace key'),
        ),
      );
    }
  };
  drawCredentials(project);

  const archiveUrl = h('input', { id: 'archive-callback-url', type: 'url', placeholder: 'https://example.com/opentok/archive', value: project.callbacks.archive ?? '' });
  const sessionUrl = h('input', { id: 'session-callback-url', type: 'url', placeholder: 'https://example.com/opentok/session', value: project.callbacks.session ?? '' });
  const callbacks = h(
    'form',
    {
      class: 'card stack-form',
      id: 'callbacks-form',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const body = { archive: archiveUrl.value.trim() || null, session: sessionUrl.value.trim() || null };
        const updated = await api<ProjectDetail>('PUT', `/projects/${encode(project.id)}/callbacks`, body).catch(showError(status));
        if (!updated) return;
        archiveUrl.value = updated.callbacks.archive ?? '';
        sessionUrl.value = updated.callbacks.session ?? '';
        replace(status, h('div', { class: 'ok-box' }, 'Callbacks saved.'));
      },
    },
    h('h2', null, 'Callbacks'),
    h('p', { class: 'muted' }, 'Like OpenTok, the server POSTs JSON to these URLs; leave one empty for none.'),
    h('label', { for: 'archive-callback-url' }, 'Archive status callback URL'),
    archiveUrl,
    h('p', { class: 'muted small' }, 'The archive\'s JSON, with event "archive", on every status change.'),
    h('label', { for: 'session-callback-url' }, 'Session monitoring callback URL'),
    sessionUrl,
    h('p', { class: 'muted small' }, 'connectionCreated, connectionDestroyed, streamCreated and streamDestroyed.'),
    h('button', { type: 'submit', id: 'save-callbacks' }, 'Save'),
  );

  const storageCard = h('section', { class: 'card', id: 'archive-storage' });
  const drawStorage = (p: ProjectDetail): void => {
    const s = p.archiveStorage;
    const bucket = h('input', { id: 'storage-bucket', required: true, value: s?.config.bucket ?? '', placeholder: 'my-archives', autocomplete: 'off' });
    const accessKey = h('input', { id: 'storage-access-key', required: true, value: s?.config.accessKey ?? '', autocomplete: 'off' });
    const secretKey = h('input', {
      id: 'storage-secret-key',
      type: 'password',
      required: !s,
      autocomplete: 'new-password',
      placeholder: s ? `set (${s.config.secretKeyHint}); leave empty to keep it` : '',
    });
    const endpoint = h('input', { id: 'storage-endpoint', type: 'url', value: s?.config.endpoint ?? '', placeholder: 'https://s3.amazonaws.com (Amazon S3) or your S3-compatible service' });
    const fallback = h(
      'select',
      { id: 'storage-fallback' },
      h('option', { value: 'opentok', selected: (s?.fallback ?? 'opentok') === 'opentok' }, 'keep the archive on this server (opentok)'),
      h('option', { value: 'none', selected: s?.fallback === 'none' }, 'fail the archive, keep no copy (none)'),
    );
    const remove = h(
      'button',
      {
        type: 'button',
        id: 'remove-storage',
        onclick: async () => {
          const updated = await api<ProjectDetail>('DELETE', `/projects/${encode(p.id)}/archive-storage`).catch(showError(status));
          if (!updated) return;
          replace(status, h('div', { class: 'ok-box' }, 'Archive storage removed: new archives stay on this server.'));
          drawStorage(updated);
        },
      },
      'Remove',
    );
    replace(
      storageCard,
      h('h2', null, 'Archive storage'),
      h('p', { class: 'muted' }, 'Like OpenTok, each archive is uploaded once available to this S3-compatible bucket, as ', h('code', null, `${p.id}/<archive id>/archive.mp4`), ' (or .zip), and becomes "uploaded".'),
      h(
        'form',
        {
          class: 'stack-form',
          id: 'storage-form',
          onsubmit: async (e: Event) => {
            e.preventDefault();
            const body = {
              type: 's3',
              config: { bucket: bucket.value.trim(), accessKey: accessKey.value.trim(), secretKey: secretKey.value, endpoint: endpoint.value.trim() || null },
              fallback: fallback.value,
            };
            const updated = await api<ProjectDetail>('PUT', `/projects/${encode(p.id)}/archive-storage`, body).catch(showError(status));
            if (!updated) return;
            replace(status, h('div', { class: 'ok-box' }, `Archive storage saved: new archives go to ${updated.archiveStorage?.config.bucket ?? ''}.`));
            drawStorage(updated);
          },
        },
        h('label', { for: 'storage-bucket' }, 'Bucket'),
        bucket,
        h('label', { for: 'storage-access-key' }, 'Access key'),
        accessKey,
        h('label', { for: 'storage-secret-key' }, 'Secret key'),
        secretKey,
        h('label', { for: 'storage-endpoint' }, 'Endpoint (empty for Amazon S3)'),
        endpoint,
        h('label', { for: 'storage-fallback' }, 'When an upload fails'),
        fallback,
        h('div', null, h('button', { type: 'submit', id: 'save-storage' }, 'Save'), ' ', s ? remove : null),
      ),
    );
  };
  drawStorage(project);

  const confirmInput = h('input', { id: 'delete-confirm', placeholder: project.id, autocomplete: 'off' });
  const deleteButton = h('button', { class: 'danger', id: 'delete-project', type: 'submit', disabled: true }, 'Delete project');
  confirmInput.addEventListener('input', () => (deleteButton.disabled = confirmInput.value.trim().toLowerCase() !== project.id));
  const danger = h(
    'form',
    {
      class: 'card danger-zone',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const ok = await api('DELETE', `/projects/${encode(project.id)}`, { confirm: confirmInput.value.trim() }).then(
          () => true,
          showError(status),
        );
        if (!ok) return;
        await refreshProjects();
        navigate('/projects');
      },
    },
    h('h2', null, 'Delete'),
    h('p', null, `Deleting ${project.name} removes its ${project.sessions} session(s), their Inspector data and archives. Its credentials stop working. This cannot be undone.`),
    h('label', { for: 'delete-confirm' }, 'Type the ', project.kind === 'project' ? 'API key' : 'application ID', ' to confirm'),
    confirmInput,
    deleteButton,
  );

  replace(
    main,
    h('p', { class: 'crumbs' }, h('a', { href: link('/projects') }, 'Projects'), ' / ', project.name),
    h('h1', null, project.name, ' ', h('span', { class: 'badge muted' }, project.kind)),
    status,
    credentials,
    callbacks,
    storageCard,
    h(
      'section',
      { class: 'card' },
      h('h2', null, 'Sessions'),
      h('p', null, h('a', { href: link('/tokens') }, 'Create a session and a token'), ' · ', h('a', { href: link('/inspector') }, 'Inspector')),
      sessionsList(project.id, 50),
    ),
    danger,
  );
}

/**
 * The project's sessions, newest first: by default only those somebody joined (every token made on
 * the Demo tokens page makes a session, most of them never used); a checkbox shows the rest. Each
 * row shows the end of its ID (the part that differs), when it was made and who joined first.
 */
export function sessionsList(projectId: string, limit: number): HTMLElement {
  const showAll = h('input', { type: 'checkbox', id: 'show-unjoined' });
  const table = h('div', { id: 'sessions-list' });
  const load = async () => {
    const joined = showAll.checked ? '' : '&joined=true';
    const sessions = await api<SessionListItem[]>('GET', `/projects/${encode(projectId)}/sessions?limit=${limit}${joined}`).catch(showError(table));
    if (sessions) replace(table, sessionsTable(projectId, sessions, showAll.checked));
  };
  showAll.addEventListener('change', () => void load());
  void load();
  return h('div', null, h('label', { class: 'check' }, showAll, ' Show sessions nobody joined'), table);
}

function sessionsTable(projectId: string, sessions: SessionListItem[], all: boolean): HTMLElement {
  return h(
    'table',
    { class: 'table', id: 'sessions-table' },
    h('thead', null, h('tr', null, h('th', null, 'Session'), h('th', null, 'First participant'), h('th', null, 'Mode'), h('th', null, 'Created'), h('th', null, 'Last activity'), h('th', null, 'Connections'), h('th', null, 'Errors'))),
    h(
      'tbody',
      null,
      sessions.length === 0 ? h('tr', null, h('td', { colspan: 7, class: 'muted' }, all ? 'No sessions yet.' : 'Nobody has joined a session of this project yet.')) : null,
      sessions.map((s) =>
        h(
          'tr',
          { 'data-session-id': s.sessionId },
          h('td', null, h('a', { href: link(`/inspector/${projectId}/${s.sessionId}`), title: s.sessionId }, h('code', null, sessionTail(s.sessionId)))),
          h('td', { class: 'first-participant' }, s.firstParticipant ? (s.firstParticipant.data || h('code', { class: 'muted' }, shortId(s.firstParticipant.connectionId, 12))) : h('span', { class: 'muted' }, 'nobody')),
          h('td', null, s.mediaMode),
          h('td', null, formatDateTime(s.createdAt)),
          h('td', null, formatDateTime(s.lastActivityAt)),
          h('td', null, s.liveConnections > 0 ? h('span', { class: 'badge good' }, `${s.liveConnections} live`) : String(s.connections)),
          h('td', null, s.errors > 0 ? h('span', { class: 'badge bad' }, s.errors) : '0'),
        ),
      ),
    ),
  );
}

/** A catch handler that shows the error in `box` and yields undefined. */
export function showError(box: HTMLElement): (err: unknown) => undefined {
  return (err) => {
    replace(box, h('div', { class: 'error-box', role: 'alert' }, (err as Error).message));
    return undefined;
  };
}
