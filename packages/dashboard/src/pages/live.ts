// Live sessions: who is connected now, their streams and subscriptions, and bitrate as it moves.
// Both pages poll every 2 s; the detail page keeps the last 5 minutes of bitrate in memory to chart.

import { api, encode, type LiveSessionSnapshot, type QualitySeries, type QualityTrack } from '../api';
import { directionColor, lineChart, type Series } from '../charts';
import { browserName, formatBitrate, formatDuration, formatPercent, formatTime, h, replace, sessionTail, shortId } from '../dom';
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
                  h('td', null, h('a', { href: link(`/live/${projectId}/${s.sessionId}`), title: s.sessionId }, h('code', null, sessionTail(s.sessionId)))),
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
    h('p', { class: 'crumbs' }, h('a', { href: link('/live') }, 'Live sessions'), ' / ', h('code', { title: sid }, sessionTail(sid))),
    h('h1', null, 'Live session'),
    h('p', null, h('code', { class: 'wrap' }, sid), ' · ', h('a', { href: link(`/inspector/${project}/${sid}`) }, 'Inspector')),
    body,
  );
  let draws = 0;
  const draw = (live: LiveSessionSnapshot | null) => {
    const now = Date.now();
    // How many times the page has drawn, for whoever waits for the next update (tests do).
    body.dataset['draws'] = String(++draws);
    record('in', now, live?.bitrateIn ?? 0);
    record('out', now, live?.bitrateOut ?? 0);
    if (!live) {
      replace(
        body,
        h('p', { class: 'muted', id: 'session-not-live' }, 'Nobody is connected to this session now. Its history is in the ', h('a', { href: link(`/inspector/${project}/${sid}`) }, 'Inspector'), '.'),
        chartOf(history, now),
      );
      return;
    }
    const data = new Map(live.connections.map((c) => [c.connectionId, c.data]));
    const streamOwner = new Map(live.streams.map((s) => [s.streamId, s.connectionId]));
    /** A connection as people tell them apart: its token data, with the id on hover. */
    const who = (id: string) => (id ? h('span', { title: id }, h('code', null, shortId(id, 12)), data.get(id) ? h('span', { class: 'muted small' }, ` ${data.get(id)}`) : null) : '—');
    replace(
      body,
      h(
        'div',
        { class: 'stats-row' },
        stat('Connections', String(live.connections.length)),
        stat('Streams', String(live.streams.length)),
        stat('Subscriptions', String(live.subscriptions.length)),
        stat('Bitrate in', formatBitrate(live.bitrateIn), 'live-bitrate-in'),
        stat('Bitrate out', formatBitrate(live.bitrateOut), 'live-bitrate-out'),
      ),
      chartOf(history, now),
      h('h2', null, 'Connections'),
      table(
        ['Connection', 'Connected for', 'Role', 'Data', 'Address', 'Browser'],
        live.connections.map((c) => [h('code', { title: c.connectionId }, shortId(c.connectionId, 12)), formatDuration(now - c.createdAt), c.role ?? '—', c.data ?? '', c.ip ?? '—', h('span', { class: 'ua', title: c.userAgent ?? '' }, browserName(c.userAgent))]),
        'live-connections',
      ),
      h('h2', null, 'Streams'),
      table(
        ['Stream', 'Connection', 'Type', 'Name', 'Audio', 'Video', 'Dimensions', 'Frame rate', 'Bitrate in'],
        live.streams.map((s) => [
          h('code', { title: s.streamId }, shortId(s.streamId, 12)),
          who(s.connectionId),
          s.videoType ?? 'audio only',
          s.name ?? '',
          flag(s.hasAudio),
          flag(s.hasVideo),
          s.width && s.height ? `${s.width}×${s.height}` : '—',
          s.frameRate === null ? '—' : `${s.frameRate.toFixed(0)} fps`,
          formatBitrate(s.bitrate),
        ]),
        'live-streams',
      ),
      h('h2', null, 'Subscriptions'),
      table(
        ['Subscriber', 'Stream', 'From', 'Since', 'Bitrate out'],
        live.subscriptions.map((s) => [who(s.connectionId), h('code', { title: s.streamId }, shortId(s.streamId, 12)), who(streamOwner.get(s.streamId) ?? ''), formatTime(s.createdAt), formatBitrate(s.bitrate)]),
        'live-subscriptions',
      ),
      h('h2', null, 'Tracks'),
      table(
        ['Seen by', 'Connection', 'Stream', 'Kind', 'Bitrate', 'Loss', 'RTT', 'Frame rate', 'Resolution'],
        live.tracks.map((t) => [
          t.source === 'publisher' ? 'server, received' : t.source === 'subscriber' ? 'server, sent' : `browser, ${t.direction === 'send' ? 'sending' : 'receiving'}`,
          who(t.connectionId),
          t.streamId ? h('code', { title: t.streamId }, shortId(t.streamId, 12)) : '—',
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
  const base = `/projects/${encode(project)}/sessions/${encode(sid)}`;
  let seeded = false;
  return poll(async () => {
    if (!seeded) {
      // The chart starts with what the Inspector recorded in the last minutes, not empty.
      const since = Date.now() - WINDOW_MS;
      const q = await api<QualitySeries>('GET', `${base}/quality?since=${since}&bucket=1000`);
      for (const [key, points] of Object.entries(totalsOverTime(q))) for (const [t, v] of points) record(key, t, v);
      seeded = true;
    }
    draw((await api<{ live: LiveSessionSnapshot | null }>('GET', `${base}/live`)).live);
  }, body);
}

/**
 * The session's bitrate in (from publishers) and out (to subscribers) over time, from its recorded
 * samples, summed the way the live snapshot sums them: the server's view of routed tracks, else the
 * clients' reports; each track counts with its latest sample until it has been silent for twice
 * its usual spacing (so a track that ended stops counting).
 */
function totalsOverTime(q: QualitySeries): { in: Array<[number, number]>; out: Array<[number, number]> } {
  const server = q.tracks.some((t) => t.source !== 'client');
  const sideOf = (t: QualityTrack): 'in' | 'out' | null =>
    server ? (t.source === 'publisher' ? 'in' : t.source === 'subscriber' ? 'out' : null) : t.direction === 'send' ? 'in' : 'out';
  const times = [...new Set(q.tracks.flatMap((t) => t.points.map((p) => p.t)))].sort((a, b) => a - b);
  const out = { in: [] as Array<[number, number]>, out: [] as Array<[number, number]> };
  const tracks = q.tracks
    .map((t) => {
      const gaps = t.points.slice(1).map((p, i) => p.t - t.points[i]!.t).sort((a, b) => a - b);
      const spacing = gaps.length > 0 ? gaps[Math.floor(gaps.length / 2)]! : 5000;
      return { side: sideOf(t), points: t.points, spacing, next: 0 };
    })
    .filter((t) => t.side !== null);
  for (const time of times) {
    const sum = { in: 0, out: 0 };
    for (const t of tracks) {
      while (t.next < t.points.length && t.points[t.next]!.t <= time) t.next++;
      const latest = t.points[t.next - 1];
      if (latest && time - latest.t <= 2 * t.spacing) sum[t.side!] += latest.bitrate ?? 0;
    }
    out.in.push([time, sum.in]);
    out.out.push([time, sum.out]);
  }
  return out;
}

function chartOf(history: Map<string, Array<[number, number | null]>>, now: number): HTMLElement {
  const series: Series[] = [
    { label: 'in (from publishers)', points: history.get('in') ?? [], color: directionColor('in', 0) },
    { label: 'out (to subscribers)', points: history.get('out') ?? [], color: directionColor('out', 0) },
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
