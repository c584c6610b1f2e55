// Live streaming broadcasts of the project (started and stopped with the REST API) and an HLS
// player page for one of them. The player is hls.js from npm, bundled by vite into its own chunk
// under /assets and loaded only on the player page: no CDN, and the page's Content-Security-Policy
// (scripts and fetches from our own origin only) holds. Browsers that play HLS natively (Safari)
// get the playlist as the <video> source instead.

import { api, encode, type BroadcastItem, type BroadcastList } from '../api';
import { formatDateTime, h, replace, sessionTail, shortId } from '../dom';
import { link, type Cleanup } from '../router';
import { currentProjectId } from '../state';
import { showError } from './projects';

const REFRESH_MS = 3000;

export function broadcastsPage(main: HTMLElement): Cleanup | void {
  const projectId = currentProjectId();
  if (!projectId) {
    replace(main, h('h1', null, 'Broadcasts'), h('p', null, 'Create a project first.'));
    return;
  }
  const body = h('div', { id: 'broadcasts' });
  const message = h('div');
  replace(
    main,
    h('h1', null, 'Broadcasts'),
    h('p', { class: 'muted' }, 'Live streams of the project’s routed sessions to HLS and RTMP, newest first. Start and stop them with the REST API (', h('code', null, 'POST /v2/project/{key}/broadcast'), ').'),
    message,
    body,
  );
  let stopped = false;
  let timer: number | undefined;

  const row = (b: BroadcastItem) =>
    h(
      'tr',
      { 'data-broadcast-id': b.id, 'data-status': b.status },
      h('td', null, h('code', { title: b.id }, shortId(b.id, 8))),
      h('td', null, h('a', { href: link(`/inspector/${projectId}/${b.sessionId}`), title: b.sessionId }, h('code', null, sessionTail(b.sessionId)))),
      h('td', null, h('span', { class: `badge ${b.status === 'started' ? 'good' : 'muted'}`, title: b.reason ?? '' }, b.status === 'started' ? 'live' : 'stopped')),
      h('td', null, b.hls ? `HLS ${b.hlsStatus}${b.lowLatency ? ' (low latency)' : b.dvr ? ' (DVR)' : ''}` : '—', b.rtmp.map((t) => h('div', { class: 'muted small' }, `RTMP ${t.id}: ${t.status}`))),
      h('td', null, formatDateTime(b.createdAt)),
      h('td', null, b.hls && b.status === 'started' ? h('a', { class: 'button small-button', href: link(`/broadcasts/${projectId}/${b.id}`), 'data-action': 'play' }, 'Play') : null),
    );

  const refresh = async (): Promise<void> => {
    const list = await api<BroadcastList>('GET', `/projects/${encode(projectId)}/broadcasts?limit=100`);
    if (stopped) return;
    replace(
      body,
      list.items.length === 0
        ? h('p', { class: 'muted', id: 'no-broadcasts' }, 'No broadcasts in this project yet.')
        : h(
            'table',
            { class: 'table', id: 'broadcasts-table' },
            h('thead', null, h('tr', null, h('th', null, 'Broadcast'), h('th', null, 'Session'), h('th', null, 'Status'), h('th', null, 'Outputs'), h('th', null, 'Created'), h('th', null, ''))),
            h('tbody', null, list.items.map(row)),
          ),
      list.count > list.items.length ? h('p', { class: 'muted small' }, `The newest ${list.items.length} of ${list.count}.`) : null,
    );
    clearTimeout(timer);
    if (list.items.some((b) => b.status === 'started')) timer = window.setTimeout(() => void refresh().catch(showError(message)), REFRESH_MS);
  };
  void refresh().catch(showError(message));
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

/** `#/broadcasts/:project/:id`: the broadcast's HLS output playing in a <video>. */
export async function broadcastPlayerPage(main: HTMLElement, params: Record<string, string>): Promise<Cleanup | void> {
  const b = await api<BroadcastItem>('GET', `/projects/${encode(params['project']!)}/broadcasts/${encode(params['id']!)}`);
  const status = h('p', { class: 'muted', id: 'player-status' }, b.status === 'started' ? `HLS ${b.hlsStatus}` : 'This broadcast has stopped.');
  if (!b.hls) {
    replace(main, h('h1', null, `Broadcast ${shortId(b.id, 8)}`), h('p', null, 'This broadcast has no HLS output (RTMP only).'));
    return;
  }
  const video = h('video', { controls: true, autoplay: true, muted: true, playsinline: true, class: 'player', id: 'broadcast-video' });
  replace(
    main,
    h('h1', null, `Broadcast ${shortId(b.id, 8)}`),
    h('p', null, h('a', { href: link('/broadcasts') }, '← Broadcasts'), ' · ', h('a', { href: b.hls, id: 'hls-link' }, 'HLS playlist')),
    status,
    video,
  );
  const { default: Hls } = await import('hls.js');
  if (!Hls.isSupported()) {
    if (video.canPlayType('application/vnd.apple.mpegurl')) {
      video.src = b.hls;
      return () => video.removeAttribute('src');
    }
    status.textContent = 'This browser can play neither HLS nor Media Source Extensions.';
    return;
  }
  const hls = new Hls({
    // The transmuxing worker would be a blob: script, which the page's policy refuses.
    enableWorker: false,
    lowLatencyMode: b.lowLatency,
  });
  hls.on(Hls.Events.MANIFEST_PARSED, () => {
    status.textContent = 'Playing';
    void video.play().catch(() => {});
  });
  hls.on(Hls.Events.ERROR, (_event, data) => {
    if (data.fatal) status.textContent = `Playback error: ${data.details}`;
  });
  hls.loadSource(b.hls);
  hls.attachMedia(video);
  return () => hls.destroy();
}
