// Live sessions: who is connected now, their streams and subscriptions, and bitrate as it moves.
// Both pages poll every 2 s; the detail page keeps the last 5 minutes of bitrate in memory to chart.

import { api, encode, type LiveSessionSnapshot } from '../api';
import { lineChart, type Series } from '../charts';
import { formatBitrate, formatDuration, formatPercent, formatTime, h, replace, shortId } from '../dom';
import { link } from '../router';
import { currentProjectId } from '../state';
import type { Cleanup } from '../router';

const POLL_MS = 2000;
const WINDOW_MS = 5 * 60_000;

export function liveListPage(main: HTMLElement): Cleanup | void {
  const projectId = currentProjectId();
  if (!projectId) {
    replace(main, h('h1', null, 'Live sessions'), h('p', null, 'Create a project first.'));
    return;
  }
  const body = h('div', { id: 'live-list' });
  replace(main, h('h1', null, 'Live sessions'), body);
  const draw = (sessions: LiveSessionSnapshot[]) => {
    const now = Date.now();
    replace(
      body,
      sessions.length === 0
        ? h('p', { class: 'muted', id: 'no-live' }, 'Nobody is connected in this project. Make a token and open its test page on the ', h('a', { href: link('/tokens') }, 'Demo tokens'), ' page.')
        : h(
            'table',
            { class: 'table' },
            h('thead', null, h('tr', null, h('th', null, 'Session'), h('th', null, 'Live for'), h('th', null, 'Connections'), h('th', null, 'Streams'), h('th', null, 'Subscriptions'), h('th', null, 'In'), h('th', null, 'Out'))),
            h(
              'tbody',
              null,
              sessions.map((s) =>
                h(
                  'tr',
                  { 'data-session-id': s.sessionId },
                  h('td', null, h('a', { href: link(`/live/${projectId}/${s.sessionId}`), title: s.sessionId }, h('code', null, shortId(s.sessionId, 24)))),
                  h('td', null, formatDuration(now - s.since)),
                  h('td', null, s.connections.length),
                  h('td', null, s.streams.length),
                  h('td', null, s.subscriptions.length),
                  h('td', { class: 'bitrate-in' }, formatBitrate(s.bitrateIn)),
                  h('td', null, formatBitrate(s.bitrateOut)),
                ),
              ),
            ),
          ),
      h('p', { class: 'muted small' }, `Updated ${formatTime(now)}`),
    );
  };
  return poll(async () => draw(await api<LiveSessionSnapshot[]>('GET', `/projects/${encode(projectId)}/live`)), body);
}

export function liveSessionPage(main: HTMLElement, params: Record<string, string>): Cleanup {
  const { project, sid } = params as { project: string; sid: string };
  const history = new Map<string, Array<[number, number | null]>>();
  const record = (key: string, t: number, v: number | null) => {
    let h = history.get(key);
    if (!h) history.set(key, (h = []));
    h.push([t, v]);
    while (h.length > 0 && h[0]![0] < t - WINDOW_MS) h.shift();
  };
  const body = h('div', { id: 'live-session' });
  replace(
    main,
    h('p', { class: 'crumbs' }, h('a', { href: link('/live') }, 'Live sessions'), ' / ', h('code', null, shortId(sid, 24))),
    h('h1', null, 'Live session'),
    h('p', null, h('code', { class: 'wrap' }, sid), ' · ', h('a', { href: link(`/inspector/${project}/${sid}`) }, 'Inspector')),
    body,
  );
  const draw = (live: LiveSessionSnapshot | null) => {
    const now = Date.now();
    record('in', now, live?.bitrateIn ?? 0);
    record('out', now, live?.bitrateOut ?? 0);
    for (const s of live?.streams ?? []) record(`stream:${s.streamId}`, now, s.bitrate);
    if (!live) {
      replace(
        body,
        h('p', { class: 'muted', id: 'session-not-live' }, 'Nobody is connected to this session now.'),
        chartOf(history, now),
      );
      return;
    }
    replace(
      body,
      h(
        'div',
        { class: 'stats-row' },
        stat('Connections', String(live.connections.length)),
        stat('Streams', String(live.streams.length)),
        stat('Subscriptions', String(live.subscriptions.length)),
        stat('Bitrate in', formatBitrate(live.bitrateIn), 'live-bitrate-in'),
        stat('Bitrate out', formatBitrate(live.bitrateOut)),
      ),
      chartOf(history, now),
      h('h2', null, 'Connections'),
      table(
        ['Connection', 'Connected for', 'Role', 'Data', 'Address', 'Browser'],
        live.connections.map((c) => [h('code', { title: c.connectionId }, shortId(c.connectionId, 12)), formatDuration(now - c.createdAt), c.role ?? '—', c.data ?? '', c.ip ?? '—', h('span', { class: 'ua', title: c.userAgent ?? '' }, c.userAgent ?? '—')]),
        'live-connections',
      ),
      h('h2', null, 'Streams'),
      table(
        ['Stream', 'Connection', 'Type', 'Name', 'Audio', 'Video', 'Bitrate in'],
        live.streams.map((s) => [h('code', { title: s.streamId }, shortId(s.streamId, 12)), h('code', null, shortId(s.connectionId, 12)), s.videoType ?? '—', s.name ?? '', flag(s.hasAudio), flag(s.hasVideo), formatBitrate(s.bitrate)]),
        'live-streams',
      ),
      h('h2', null, 'Subscriptions'),
      table(
        ['Subscriber', 'Stream', 'Since', 'Bitrate out'],
        live.subscriptions.map((s) => [h('code', null, shortId(s.connectionId, 12)), h('code', null, shortId(s.streamId, 12)), formatTime(s.createdAt), formatBitrate(s.bitrate)]),
        'live-subscriptions',
      ),
      h('h2', null, 'Tracks'),
      table(
        ['Seen by', 'Connection', 'Stream', 'Kind', 'Bitrate', 'Loss', 'RTT', 'Frame rate', 'Resolution'],
        live.tracks.map((t) => [
          t.source === 'client' ? `client (${t.direction})` : `server (${t.source})`,
          h('code', null, shortId(t.connectionId, 12)),
          t.streamId ? h('code', null, shortId(t.streamId, 12)) : '—',
          t.kind,
          formatBitrate(t.bitrate),
          formatPercent(t.packetLoss),
          t.rttMs === null ? '—' : `${Math.round(t.rttMs)} ms`,
          t.frameRate === null ? '—' : `${t.frameRate.toFixed(0)} fps`,
          t.width && t.height ? `${t.width}×${t.height}` : '—',
        ]),
        'live-tracks',
      ),
      h('p', { class: 'muted small' }, `Updated ${formatTime(now)}`),
    );
  };
  return poll(async () => draw((await api<{ live: LiveSessionSnapshot | null }>('GET', `/projects/${encode(project)}/sessions/${encode(sid)}/live`)).live), body);
}

function chartOf(history: Map<string, Array<[number, number | null]>>, now: number): HTMLElement {
  const series: Series[] = [
    { label: 'in (from publishers)', points: history.get('in') ?? [] },
    { label: 'out (to subscribers)', points: history.get('out') ?? [] },
  ];
  // The window grows from when the page opened up to 5 minutes, so a fresh session fills the chart.
  const first = history.get('in')?.[0]?.[0] ?? now;
  const from = Math.min(now - 30_000, Math.max(now - WINDOW_MS, first));
  return h('div', { class: 'live-chart', id: 'live-chart' }, lineChart(series, { title: 'Bitrate', format: formatBitrate, from, to: now, yMinTop: 100_000 }));
}

function stat(label: string, value: string, id?: string): HTMLElement {
  return h('div', { class: 'stat' }, h('div', { class: 'stat-value', id }, value), h('div', { class: 'stat-label' }, label));
}

function flag(v: boolean | null): string {
  return v === null ? '—' : v ? 'on' : 'off';
}

export function table(headers: string[], rows: Array<Array<Node | string>>, id?: string): HTMLElement {
  return h(
    'table',
    { class: 'table', id },
    h('thead', null, h('tr', null, headers.map((x) => h('th', null, x)))),
    h('tbody', null, rows.length === 0 ? h('tr', null, h('td', { colspan: headers.length, class: 'muted' }, 'none')) : rows.map((r) => h('tr', null, r.map((c) => h('td', null, c))))),
  );
}

/** Runs `tick` now and every POLL_MS until the page is left; errors show in `box` and polling goes on. */
function poll(tick: () => Promise<void>, box: HTMLElement): Cleanup {
  let stopped = false;
  let timer: number | undefined;
  const run = async () => {
    try {
      await tick();
    } catch (err) {
      if (!stopped) box.prepend(h('div', { class: 'error-box' }, (err as Error).message));
    }
    if (!stopped) timer = window.setTimeout(run, POLL_MS);
  };
  void run();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
