// Archives of the project: status, and play or download when available. The list comes from the
// archiving module; a server without it says so instead of showing an empty table.

import { api, encode, type ArchiveList } from '../api';
import { formatDateTime, formatDuration, h, replace, shortId } from '../dom';
import { currentProjectId } from '../state';

export async function archivesPage(main: HTMLElement): Promise<void> {
  const projectId = currentProjectId();
  if (!projectId) {
    replace(main, h('h1', null, 'Archives'), h('p', null, 'Create a project first.'));
    return;
  }
  const list = await api<ArchiveList>('GET', `/projects/${encode(projectId)}/archives?limit=100`);
  const player = h('div', { id: 'archive-player' });
  replace(
    main,
    h('h1', null, 'Archives'),
    !list.available
      ? h('p', { class: 'notice-box', id: 'archives-unavailable' }, 'This server does not record archives yet: archiving is not installed in this version. Archives will be listed here once it is.')
      : list.items.length === 0
        ? h('p', { class: 'muted', id: 'no-archives' }, 'No archives in this project yet.')
        : h(
            'table',
            { class: 'table', id: 'archives-table' },
            h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Session'), h('th', null, 'Status'), h('th', null, 'Created'), h('th', null, 'Duration'), h('th', null, 'Size'), h('th', null, ''))),
            h(
              'tbody',
              null,
              list.items.map((a) =>
                h(
                  'tr',
                  null,
                  h('td', null, a.name ?? h('span', { class: 'muted' }, shortId(a.id, 8))),
                  h('td', null, h('code', { title: a.sessionId }, shortId(a.sessionId, 16))),
                  h('td', null, h('span', { class: `badge ${a.status === 'available' ? 'good' : a.status === 'failed' ? 'bad' : 'muted'}` }, a.status)),
                  h('td', null, formatDateTime(a.createdAt)),
                  h('td', null, formatDuration(a.duration * 1000)),
                  h('td', null, `${(a.size / 1e6).toFixed(1)} MB`),
                  h(
                    'td',
                    null,
                    a.url
                      ? [
                          a.outputMode === 'composed'
                            ? h('button', { type: 'button', onclick: () => replace(player, h('video', { src: a.url!, controls: true, autoplay: true, class: 'player' })) }, 'Play')
                            : null,
                          ' ',
                          h('a', { href: a.url, download: '' }, 'Download'),
                        ]
                      : null,
                  ),
                ),
              ),
            ),
          ),
    player,
  );
}
