// The Inspector: a project's sessions, and for one session (live or ended) its participants with
// timelines and quality scores, charts of bitrate, loss, RTT and frame rate per stream, and the
// event log with errors highlighted. A live session refreshes every 5 s.

import {
  api,
  encode,
  type EventPage,
  type InspectorEvent,
  type InspectorSessionDetail,
  type Participant,
  type QualitySeries,
  type QualityTrack,
  type ConnectionScore,
} from '../api';
import { INSPECTOR_EVENT_TYPES } from '@colloquy/server/dashboard-api';
import { directionColor, lineChart, type Series } from '../charts';
import { browserName, formatBitrate, formatDateTime, formatDuration, formatMs, formatPercent, formatTime, h, replace, scoreBadge, sessionTail, shortId } from '../dom';
import { link, navigate, type Cleanup } from '../router';
import { currentProjectId } from '../state';
import { sessionsList, showError } from './projects';


export async function inspectorListPage(main: HTMLElement): Promise<void> {
  const projectId = currentProjectId();
  if (!projectId) {
    replace(main, h('h1', null, 'Inspector'), h('p', null, 'Create a project first.'));
    return;
  }
  const input = h('input', { id: 'open-session-id', placeholder: 'Session ID (1_MX4…)', autocomplete: 'off' });
  replace(
    main,
    h('h1', null, 'Inspector'),
    h('p', { class: 'muted' }, 'Every session of the project, newest first. Open one for its participants, quality charts and event log.'),
    h(
      'form',
      {
        class: 'inline-form',
        onsubmit: (e: Event) => {
          e.preventDefault();
          if (input.value.trim()) navigate(`/inspector/${projectId}/${input.value.trim()}`);
        },
      },
      input,
      h('button', { type: 'submit' }, 'Open'),
    ),
    sessionsList(projectId, 100),
  );
}

export async function inspectorSessionPage(main: HTMLElement, params: Record<string, string>): Promise<Cleanup> {
  const { project, sid } = params as { project: string; sid: string };
  const base = `/projects/${encode(project)}/sessions/${encode(sid)}`;
  let stopped = false;
  let timer: number | undefined;
  const header = h('div');
  const overview = h('div', { id: 'inspector-overview' });
  const charts = h('div', { id: 'inspector-charts' });
  const events = h('div', { id: 'inspector-events' });
  replace(
    main,
    h('p', { class: 'crumbs' }, h('a', { href: link('/inspector') }, 'Inspector'), ' / ', h('code', { title: sid }, sessionTail(sid))),
    header,
    overview,
    h('h2', null, 'Quality per stream'),
    charts,
    h('h2', null, 'Events'),
    events,
  );
  const eventLog = eventLogView(base, events);

  const refresh = async (): Promise<void> => {
    const [detail, quality] = await Promise.all([api<InspectorSessionDetail>('GET', base), api<QualitySeries & { scores: ConnectionScore[] }>('GET', `${base}/quality`)]);
    if (stopped) return;
    const errors = await api<EventPage>('GET', `${base}/events?errors=true&limit=1000`);
    if (stopped) return;
    const live = detail.live !== null;
    const start = detail.summary?.firstActivityAt ?? detail.session.createdAt;
    const end = live ? Date.now() : Math.max(detail.summary?.lastActivityAt ?? start, start + 1000);
    drawHeader(header, sid, detail, live);
    drawOverview(overview, detail.participants, errors.items, start, end);
    drawCharts(charts, quality, detail.participants, start, end);
    if (live) timer = window.setTimeout(() => void refresh().catch(showError(header)), 5000);
  };
  await refresh();
  await eventLog.load(true);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

function drawHeader(box: HTMLElement, sid: string, d: InspectorSessionDetail, live: boolean): void {
  const s = d.summary;
  replace(
    box,
    h('h1', null, 'Session ', live ? h('span', { class: 'badge good', id: 'live-badge' }, 'live') : h('span', { class: 'badge muted' }, s ? 'ended' : 'no activity')),
    h('p', null, h('code', { class: 'wrap', id: 'inspector-session-id' }, sid)),
    h(
      'div',
      { class: 'stats-row' },
      stat('Mode', d.session.mediaMode),
      stat('Created', formatDateTime(d.session.createdAt)),
      stat('Duration', s ? formatDuration((live ? Date.now() : s.lastActivityAt) - s.firstActivityAt) : '—'),
      stat('Connections', String(s?.connections ?? 0)),
      stat('Events', String(s?.events ?? 0)),
      stat('Errors', String(s?.errors ?? 0), (s?.errors ?? 0) > 0 ? 'bad' : undefined),
    ),
    s && (s.droppedEvents > 0 || s.droppedSamples > 0)
      ? h('div', { class: 'warn-box' }, `This session reached the Inspector's limits: ${s.droppedEvents} events and ${s.droppedSamples} samples were not kept.`)
      : null,
    !s ? h('p', { class: 'muted' }, 'Nothing was recorded for this session yet: nobody has connected to it.') : null,
  );
}

function drawOverview(box: HTMLElement, participants: Participant[], errors: InspectorEvent[], start: number, end: number): void {
  const span = Math.max(1, end - start);
  const pct = (t: number) => `${(((Math.min(end, Math.max(start, t)) - start) / span) * 100).toFixed(2)}%`;
  const width = (a: number, b: number | null) => `${Math.max(0.5, ((Math.min(end, b ?? end) - Math.max(start, a)) / span) * 100).toFixed(2)}%`;
  const bar = (cls: string, a: number, b: number | null, title: string) => h('div', { class: `bar ${cls}`, style: `left:${pct(a)};width:${width(a, b)}`, title });
  replace(
    box,
    h('h2', null, 'Participants'),
    h(
      'table',
      { class: 'table', id: 'participants-table' },
      h('thead', null, h('tr', null, h('th', null, 'Connection'), h('th', null, 'Score'), h('th', null, 'Joined'), h('th', null, 'Left'), h('th', null, 'Streams'), h('th', null, 'Errors'), h('th', null, 'Browser'))),
      h(
        'tbody',
        null,
        participants.length === 0 ? h('tr', null, h('td', { colspan: 7, class: 'muted' }, 'No connections recorded.')) : null,
        participants.map((p) =>
          h(
            'tr',
            { class: p.errors > 0 ? 'has-errors' : '', 'data-connection-id': p.connectionId },
            h('td', null, h('code', { title: p.connectionId }, shortId(p.connectionId, 12)), p.data ? h('div', { class: 'muted small' }, p.data) : null),
            h('td', { class: 'score', title: scoreTitle(p) }, scoreBadge(p.score?.score)),
            h('td', null, formatTime(p.createdAt)),
            h('td', null, p.live ? h('span', { class: 'badge good' }, 'connected') : p.destroyedAt ? `${formatTime(p.destroyedAt)} (${p.reason ?? '?'})` : 'unknown (server stopped)'),
            h('td', null, p.streams.length),
            h('td', null, p.errors > 0 ? h('span', { class: 'badge bad' }, p.errors) : '0'),
            h('td', null, h('span', { class: 'ua', title: p.userAgent ?? '' }, browserName(p.userAgent))),
          ),
        ),
      ),
    ),
    h('h2', null, 'Timeline'),
    h(
      'div',
      { class: 'timeline', id: 'timeline' },
      h('div', { class: 'timeline-axis' }, h('span', null, formatTime(start)), h('span', null, formatTime(start + span / 2)), h('span', null, formatTime(end))),
      participants.map((p) =>
        h(
          'div',
          { class: 'timeline-person' },
          h('div', { class: 'timeline-label', title: p.connectionId }, p.data ? h('div', { class: 'ellipsis' }, personName(p)) : null, h('code', { class: 'muted small' }, shortId(p.connectionId, 10))),
          h(
            'div',
            { class: 'timeline-lanes' },
            h(
              'div',
              { class: 'lane' },
              bar('connection', p.createdAt, p.destroyedAt ?? (p.live ? end : null), `connected ${formatTime(p.createdAt)}${p.destroyedAt ? ' – ' + formatTime(p.destroyedAt) : ''}`),
              errors.filter((e) => e.connectionId === p.connectionId).map((e) => h('div', { class: 'marker error', style: `left:${pct(e.createdAt)}`, title: `${formatTime(e.createdAt)} ${String(e.details['message'] ?? 'error')}` })),
            ),
            p.streams.map((s) => h('div', { class: 'lane thin' }, bar(`stream ${s.videoType ?? ''}`, s.createdAt, s.destroyedAt, `publishes ${s.videoType ?? 'stream'} ${s.streamId}`))),
            p.subscriptions.map((s) => h('div', { class: 'lane thin' }, bar('subscription', s.createdAt, s.destroyedAt, `subscribes to ${s.streamId}`))),
          ),
        ),
      ),
      h('div', { class: 'timeline-legend muted small' }, h('i', { class: 'bar connection' }), ' connected ', h('i', { class: 'bar stream' }), ' publishing ', h('i', { class: 'bar subscription' }), ' subscribed ', h('i', { class: 'marker error' }), ' error'),
    ),
  );
}

function scoreTitle(p: Participant): string {
  if (!p.score) return 'No quality samples';
  return p.score.tracks
    .map((t) => `${t.source} ${t.kind} ${t.streamId ? shortId(t.streamId, 8) : ''}: ${t.score} (loss ${formatPercent(t.packetLoss)}, rtt ${formatMs(t.rttMs)}, ${formatBitrate(t.bitrate)})`)
    .join('\n');
}

/**
 * What a line of a chart is, in words: the server's view of what arrives from the publisher ("in
 * from the publisher") and of what it sends to each subscriber ("→ Bob"), and what browsers reported.
 */
function trackLabel(t: QualityTrack, names: Map<string, string>): string {
  const who = names.get(t.connectionId) ?? shortId(t.connectionId, 8);
  if (t.source === 'publisher') return 'in from the publisher';
  if (t.source === 'subscriber') return `→ ${who}`;
  return `${who}'s browser, ${t.direction === 'send' ? 'sent' : 'received'}`;
}

/** In (to the server: publisher, browsers sending) or out (to subscribers, browsers receiving). */
const directionOf = (t: QualityTrack) => (t.source === 'publisher' || (t.source === 'client' && t.direction === 'send') ? 'in' : 'out');

/**
 * Colour of each track of a stream: blues for what flows in, oranges for what flows out (one shade
 * per person); a browser's report has the colour of the server's line for the same person, dashed.
 */
function trackColors(tracks: QualityTrack[]): Map<QualityTrack, string> {
  const shade = { in: new Map<string, number>(), out: new Map<string, number>() };
  const colors = new Map<QualityTrack, string>();
  for (const t of tracks) {
    const direction = directionOf(t);
    const people = shade[direction];
    if (!people.has(t.connectionId)) people.set(t.connectionId, people.size);
    colors.set(t, directionColor(direction, people.get(t.connectionId)!));
  }
  return colors;
}

function drawCharts(box: HTMLElement, q: QualitySeries, participants: Participant[], start: number, end: number): void {
  const owner = new Map<string, string>();
  const names = new Map(participants.map((p) => [p.connectionId, personName(p)]));
  const videoType = new Map<string, string>();
  for (const p of participants) for (const s of p.streams) {
    owner.set(s.streamId, p.connectionId);
    videoType.set(s.streamId, s.videoType ?? 'stream');
  }
  const groups = new Map<string, QualityTrack[]>();
  for (const t of q.tracks) {
    const key = t.streamId ?? `conn:${t.connectionId}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(t);
  }
  if (groups.size === 0) {
    replace(box, h('p', { class: 'muted', id: 'no-quality' }, 'No quality samples for this session.'));
    return;
  }
  // The server's view first (what arrives, then what is sent), browsers' reports after.
  const order = (t: QualityTrack) => ['publisher', 'subscriber', 'client'].indexOf(t.source);
  for (const g of groups.values()) g.sort((a, b) => order(a) - order(b));
  const metric = (tracks: QualityTrack[], colors: Map<QualityTrack, string>, pick: (p: QualityTrack['points'][number]) => number | null): Series[] =>
    tracks
      .map((t) => ({
        label: trackLabel(t, names),
        color: colors.get(t)!,
        dashed: t.source === 'client',
        points: t.points.map((p) => [p.t, pick(p)] as [number, number | null]),
      }))
      .filter((s) => s.points.some((p) => p[1] !== null));
  replace(
    box,
    [...groups].map(([key, tracks]) => {
      const from = owner.get(key);
      const title = key.startsWith('conn:')
        ? `Browser reports of ${names.get(key.slice(5)) ?? shortId(key.slice(5), 12)}`
        : `${capitalize(videoType.get(key) ?? 'stream')} ${shortId(key, 12)}${from ? ` from ${names.get(from) ?? shortId(from, 12)}` : ''}`;
      // Video and audio are shown one at a time (video first): half the lines, none look alike.
      const kinds = (['video', 'audio'] as const).filter((k) => tracks.some((t) => t.kind === k));
      const grid = h('div', { class: 'chart-grid' });
      const buttons = kinds.map((kind) => h('button', { type: 'button', class: 'kind-button', 'data-kind': kind, onclick: () => show(kind) }, capitalize(kind)));
      const show = (kind: 'video' | 'audio') => {
        for (const b of buttons) b.classList.toggle('active', b.dataset['kind'] === kind);
        const ofKind = tracks.filter((t) => t.kind === kind);
        const colors = trackColors(ofKind);
        replace(
          grid,
          lineChart(metric(ofKind, colors, (p) => p.bitrate), { title: 'Bitrate', format: formatBitrate, from: start, to: end, yMinTop: kind === 'video' ? 50_000 : 10_000 }),
          lineChart(metric(ofKind, colors, (p) => p.packetLoss), { title: 'Packet loss', format: formatPercent, from: start, to: end, yMinTop: 0.05 }),
          lineChart(metric(ofKind, colors, (p) => p.rttMs), { title: 'Round-trip time', format: formatMs, from: start, to: end, yMinTop: 100 }),
          kind === 'video' ? lineChart(metric(ofKind, colors, (p) => p.frameRate), { title: 'Frame rate', format: (v) => `${Math.round(v)} fps`, from: start, to: end, yMinTop: 30 }) : null,
        );
      };
      show(kinds[0] ?? 'video');
      return h(
        'section',
        { class: 'card stream-charts', 'data-stream-id': key },
        h('h3', null, title, ' ', h('span', { class: 'kind-toggle' }, kinds.length > 1 ? buttons : null)),
        h('p', { class: 'muted small' }, 'Blue: into the server (from the publisher). Orange: out to each subscriber. Dashed: what the browser itself reported.'),
        grid,
      );
    }),
  );
}

function eventLogView(base: string, box: HTMLElement): { load(reset: boolean): Promise<void> } {
  const type = h('select', { id: 'event-type', 'aria-label': 'Event type' }, h('option', { value: '' }, 'All types'), INSPECTOR_EVENT_TYPES.map((t) => h('option', { value: t }, t)));
  const errorsOnly = h('input', { type: 'checkbox', id: 'errors-only' });
  const tbody = h('tbody');
  const more = h('button', { type: 'button', id: 'more-events', hidden: true }, 'Load more');
  let next: number | null = null;
  let first: number | null = null;
  const load = async (reset: boolean) => {
    if (reset) {
      next = null;
      tbody.replaceChildren();
    }
    const qs = new URLSearchParams({ limit: '200' });
    if (type.value) qs.set('type', type.value);
    if (errorsOnly.checked) qs.set('errors', 'true');
    if (!reset && next !== null) qs.set('after', String(next));
    const page = await api<EventPage>('GET', `${base}/events?${qs}`);
    if (reset) first = page.items[0]?.createdAt ?? null;
    for (const e of page.items) tbody.append(eventRow(e, first ?? e.createdAt));
    if (tbody.children.length === 0) tbody.append(h('tr', null, h('td', { colspan: 5, class: 'muted' }, 'No events.')));
    next = page.next;
    more.hidden = next === null;
  };
  type.addEventListener('change', () => void load(true));
  errorsOnly.addEventListener('change', () => void load(true));
  more.addEventListener('click', () => void load(false));
  replace(
    box,
    h('div', { class: 'inline-form' }, type, h('label', { class: 'check' }, errorsOnly, ' errors only')),
    h('table', { class: 'table events', id: 'events-table' }, h('thead', null, h('tr', null, h('th', null, 'Time'), h('th', null, 'Event'), h('th', null, 'Connection'), h('th', null, 'Stream'), h('th', null, 'Details'))), tbody),
    more,
  );
  return { load };
}

function eventRow(e: InspectorEvent, t0: number): HTMLElement {
  const details = Object.entries(e.details)
    .filter(([k]) => k !== 'lastAt')
    .map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`)
    .join(' · ');
  return h(
    'tr',
    { class: e.isError ? 'error-row' : '', 'data-type': e.type },
    h('td', { title: formatDateTime(e.createdAt) }, formatTime(e.createdAt), h('span', { class: 'muted small' }, ` +${formatDuration(e.createdAt - t0)}`)),
    h('td', null, e.isError ? h('strong', null, e.type) : e.type),
    h('td', null, e.connectionId ? h('code', { title: e.connectionId }, shortId(e.connectionId, 10)) : '—'),
    h('td', null, e.streamId ? h('code', { title: e.streamId }, shortId(e.streamId, 10)) : '—'),
    h('td', { class: 'details' }, details),
  );
}

/** How people tell participants apart: the `name=` of the token data, else the data, else the id. */
function personName(p: Participant): string {
  const named = /(?:^|[&;,\s])name=([^&;,]+)/.exec(p.data ?? '')?.[1];
  if (named) return named.trim();
  if (p.data) return p.data.length > 24 ? `${p.data.slice(0, 22)}…` : p.data;
  return shortId(p.connectionId, 8);
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function stat(label: string, value: string, cls?: string): HTMLElement {
  return h('div', { class: `stat ${cls ?? ''}` }, h('div', { class: 'stat-value' }, value), h('div', { class: 'stat-label' }, label));
}
