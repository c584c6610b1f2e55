// Archives of the project: status (recording, processing, available, failed…), play a composed MP4
// in the page, download it (or an individual archive's ZIP) through its signed link, delete it.
// While one is recording or being produced the page refreshes every 3 s.

import { api, encode, type ArchiveItem, type ArchiveList } from '../api';
import { formatDateTime, formatDuration, h, replace, sessionTail, shortId } from '../dom';
import { link, type Cleanup } from '../router';
import { currentProjectId } from '../state';
import { showError } from './projects';

const REFRESH_MS = 3000;

/** What a status means to the person reading it, and its badge color. */
const STATUS: Record<string, [label: string, cls: string]> = {
  started: ['recording', 'bad'],
  paused: ['paused (nobody publishing)', 'fair'],
  stopped: ['processing', 'fair'],
  available: ['available', 'good'],
  uploaded: ['uploaded to storage', 'good'],
  failed: ['failed', 'bad'],
  deleted: ['deleted', 'muted'],
  expired: ['expired', 'muted'],
};

export function archivesPage(main: HTMLElement): Cleanup | void {
  const projectId = currentProjectId();
  if (!projectId) {
    replace(main, h('h1', null, 'Archives'), h('p', null, 'Create a project first.'));
    return;
  }
  const body = h('div', { id: 'archives' });
  const player = h('div', { id: 'archive-player' });
  const message = h('div');
  replace(
    main,
    h('h1', null, 'Archives'),
    h('p', { class: 'muted' }, 'Recordings of the project’s routed sessions, newest first. Start and stop them with the REST API (', h('code', null, 'POST /v2/project/{key}/archive'), ') or a session’s archiveMode "always".'),
    message,
    body,
    player,
  );
  let stopped = false;
  let timer: number | undefined;

  const play = (a: ArchiveItem) =>
    replace(
      player,
      h('h2', null, `Playing ${a.name ?? shortId(a.id, 8)}`),
      h('video', { src: a.url!, controls: true, autoplay: true, muted: true, class: 'player', id: 'archive-video' }),
    );

  const remove = async (a: ArchiveItem, button: HTMLButtonElement) => {
    if (button.dataset['armed'] !== 'yes') {
      // A second click confirms: no modal dialog for one row.
      button.dataset['armed'] = 'yes';
      button.textContent = 'Click again to delete';
      return;
    }
    button.disabled = true;
    const ok = await api('DELETE', `/projects/${encode(projectId)}/archives/${encode(a.id)}`).then(() => true, showError(message));
    if (ok) {
      replace(player);
      await refresh();
    }
  };

  const row = (a: ArchiveItem) => {
    const [label, cls] = STATUS[a.status] ?? [a.status, 'muted'];
    const del = h('button', { type: 'button', class: 'small-button', 'data-action': 'delete' }, 'Delete');
    del.addEventListener('click', () => void remove(a, del));
    const deletable = a.status === 'available' || a.status === 'uploaded' || a.status === 'failed' || a.status === 'expired';
    const upload =
      a.upload?.state === 'pending'
        ? h('div', { class: 'muted small', 'data-upload': 'pending' }, `uploading to ${a.upload.bucket}…`)
        : a.upload?.state === 'failed' && a.status === 'available'
          ? h('div', { class: 'muted small', 'data-upload': 'failed' }, `not uploaded: ${a.upload.error ?? ''} (kept on this server)`)
          : null;
    return h(
      'tr',
      { 'data-archive-id': a.id, 'data-status': a.status },
      h('td', null, a.name ?? h('span', { class: 'muted' }, shortId(a.id, 8)), h('div', { class: 'muted small' }, a.outputMode === 'composed' ? `composed ${a.resolution ?? ''}` : 'individual streams (ZIP)')),
      h('td', null, h('a', { href: link(`/inspector/${projectId}/${a.sessionId}`), title: a.sessionId }, h('code', null, sessionTail(a.sessionId)))),
      h('td', null, h('span', { class: `badge ${cls}`, title: a.reason ?? '' }, label), a.reason && a.status !== 'available' && a.status !== 'uploaded' ? h('div', { class: 'muted small' }, a.reason) : null, upload),
      h('td', null, formatDateTime(a.createdAt)),
      h('td', null, formatDuration(a.duration * 1000)),
      h('td', null, a.size > 0 ? formatSize(a.size) : '—'),
      h(
        'td',
        null,
        h(
          'div',
          { class: 'row-actions' },
          a.url && a.outputMode === 'composed' ? h('button', { type: 'button', class: 'small-button', 'data-action': 'play', onclick: () => play(a) }, 'Play') : null,
          a.url ? h('a', { class: 'button small-button', href: a.url, download: '', 'data-action': 'download' }, 'Download') : null,
          deletable ? del : null,
        ),
      ),
    );
  };

  const refresh = async (): Promise<void> => {
    const list = await api<ArchiveList>('GET', `/projects/${encode(projectId)}/archives?limit=100`);
    if (stopped) return;
    replace(
      body,
      list.items.length === 0
        ? h('p', { class: 'muted', id: 'no-archives' }, 'No archives in this project yet.')
        : h(
            'table',
            { class: 'table', id: 'archives-table' },
            h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Session'), h('th', null, 'Status'), h('th', null, 'Created'), h('th', null, 'Duration'), h('th', null, 'Size'), h('th', null, ''))),
            h('tbody', null, list.items.map(row)),
          ),
      list.count > list.items.length ? h('p', { class: 'muted small' }, `The newest ${list.items.length} of ${list.count}.`) : null,
    );
    clearTimeout(timer);
    if (list.items.some((a) => a.status === 'started' || a.status === 'paused' || a.status === 'stopped' || a.upload?.state === 'pending')) {
      timer = window.setTimeout(() => void refresh().catch(showError(message)), REFRESH_MS);
    }
  };
  void refresh().catch(showError(message));
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function formatSize(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1e3))} kB`;
}
