// The Inspector on both engines (a real SQLite file, a real PostgreSQL the test starts): recording and batching, caps, signal counting, sample
// throttling, retention pruning, the queries (events with filters and paging, quality buckets,
// scores, participants) and the live view, and cascade when a project is deleted.

import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Inspector, type InspectorOptions } from '../src/inspector/inspector.js';
import { ClientErrorMessageSchema, ClientStatsMessageSchema } from '@colloquy/protocol/schemas';
import { clientErrorEvent, clientStatsSamples } from '../src/inspector/client-input.js';
import { networkScore, trackScore } from '../src/inspector/score.js';
import { SessionManager } from '../src/sessions/session-manager.js';
import type { ServerStore as Store } from '../src/server-store.js';
import { openServerStore } from '../src/server-store.js';
import type { Project } from '../src/store/index.js';
import { storeEngines } from './engines.js';

const logger = pino({ level: 'silent' });
const engines = storeEngines('inspector');

let store: Store;
let project: Project;
let other: Project;
let sessionId: string;
let clock: number;
const inspectors: Inspector[] = [];

function makeInspector(options: InspectorOptions = {}): Inspector {
  const i = new Inspector(store.db, logger, { now: () => clock, flushIntervalMs: 60_000, ...options });
  inspectors.push(i);
  return i;
}

const routed = { mediaMode: 'routed', archiveMode: 'manual', location: null, archiveName: null, archiveResolution: null, e2ee: false } as const;

async function count(table: string): Promise<number> {
  return (await store.db.value<number>(`SELECT COUNT(*) FROM ${table}`))!;
}

describe.each(engines)('on $engine', ({ location }) => {
beforeEach(async () => {
  store = await openServerStore(await location());
  project = await store.projects.createProject('Inspected');
  other = await store.projects.createProject('Other');
  sessionId = (await new SessionManager(store, logger).create(project, routed)).id;
  clock = 1_700_000_000_000;
}, 30_000);

afterEach(async () => {
  for (const i of inspectors.splice(0)) await i.close();
  await store.close();
});

describe('recording', () => {
  it('batches events in memory and writes them in one flush, with their details', async () => {
    const i = makeInspector();
    i.recordEvent(sessionId, project.id, { type: 'connectionCreated', connectionId: 'c1', userAgent: 'Chrome/140', ip: '127.0.0.1', role: 'publisher', data: 'name=Ada' });
    clock += 10;
    i.recordEvent(sessionId, project.id, { type: 'streamCreated', connectionId: 'c1', streamId: 's1', videoType: 'camera', hasAudio: true, hasVideo: true });
    expect(await count('inspector_events')).toBe(0);
    await i.flush();
    expect(await count('inspector_events')).toBe(2);
    const page = await i.events(sessionId);
    expect(page.items.map((e) => e.type)).toEqual(['connectionCreated', 'streamCreated']);
    expect(page.items[0]).toMatchObject({
      sessionId,
      connectionId: 'c1',
      streamId: null,
      createdAt: 1_700_000_000_000,
      isError: false,
      details: { userAgent: 'Chrome/140', ip: '127.0.0.1', role: 'publisher', data: 'name=Ada' },
    });
    expect(page.items[1]).toMatchObject({ streamId: 's1', details: { videoType: 'camera', hasAudio: true, hasVideo: true } });
    expect(page.next).toBeNull();
    expect((await i.getSession(sessionId))).toMatchObject({ events: 2, connections: 1, errors: 0, firstActivityAt: 1_700_000_000_000, lastActivityAt: 1_700_000_000_010 });
  });

  it('writes the batch on its timer without being asked', async () => {
    const i = makeInspector({ flushIntervalMs: 20 });
    i.recordEvent(sessionId, project.id, { type: 'connectionCreated', connectionId: 'c1' });
    // Nothing asks for a flush: only the 20 ms timer can write it. Waited for, not slept on (a
    // loaded machine's timer and database run late: a fixed 80 ms failed on postgres under load).
    const deadline = Date.now() + 10_000;
    while ((await count('inspector_events')) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await count('inspector_events')).toBe(1);
  });

  it('ignores sessions that do not exist or belong to another project', async () => {
    const i = makeInspector();
    i.recordEvent('1_nonexistent', project.id, { type: 'connectionCreated', connectionId: 'c1' });
    i.recordEvent(sessionId, other.id, { type: 'connectionCreated', connectionId: 'c1' });
    i.recordQuality(sessionId, other.id, { source: 'publisher', connectionId: 'c1', streamId: 's1', kind: 'video', bitrate: 1, packetLoss: 0 });
    await i.flush();
    expect(await count('inspector_events')).toBe(0);
    expect(await count('inspector_quality')).toBe(0);
    expect((await i.listSessions(other.id))).toEqual([]);
  });

  it('counts signals instead of storing each one, and never stores their data', async () => {
    const i = makeInspector();
    for (let n = 0; n < 50; n++) i.recordEvent(sessionId, project.id, { type: 'signal', connectionId: 'c1', signalType: 'chat' });
    i.recordEvent(sessionId, project.id, { type: 'signal', connectionId: 'c1', signalType: 'chat', to: 'c2' });
    i.recordEvent(sessionId, project.id, { type: 'signal', signalType: 'announce' });
    await i.flush();
    const signals = (await i.events(sessionId, { types: ['signal'] })).items;
    expect(signals.map((s) => [s.connectionId, s.details['signalType'], s.details['to'] ?? null, s.details['count']])).toEqual([
      ['c1', 'chat', null, 50],
      ['c1', 'chat', 'c2', 1],
      [null, 'announce', null, 1],
    ]);
    expect(JSON.stringify(signals)).not.toContain('data');
  });

  it('keeps the order of recording for rows of the same millisecond, signals included', async () => {
    const i = makeInspector();
    i.recordEvent(sessionId, project.id, { type: 'connectionCreated', connectionId: 'a' });
    i.recordEvent(sessionId, project.id, { type: 'signal', connectionId: 'a', signalType: 'hi' });
    i.recordEvent(sessionId, project.id, { type: 'connectionDestroyed', connectionId: 'a', reason: 'clientDisconnected' });
    expect((await i.events(sessionId)).items.map((e) => e.type)).toEqual(['connectionCreated', 'signal', 'connectionDestroyed']);
  });

  it('stops at the per-session caps and counts what it dropped', async () => {
    const i = makeInspector({ maxEventsPerSession: 5, maxSamplesPerSession: 3, minSampleIntervalMs: 0 });
    for (let n = 0; n < 8; n++) i.recordEvent(sessionId, project.id, { type: 'error', source: 'server', message: `e${n}` });
    for (let n = 0; n < 7; n++) {
      clock += 1000;
      i.recordQuality(sessionId, project.id, { source: 'publisher', connectionId: 'c1', streamId: 's1', kind: 'video', bitrate: 1000 * n, packetLoss: 0 });
    }
    await i.flush();
    expect(await count('inspector_events')).toBe(5);
    expect(await count('inspector_quality')).toBe(3);
    expect((await i.getSession(sessionId))).toMatchObject({ events: 5, samples: 3, errors: 5, droppedEvents: 3, droppedSamples: 4 });
    // The cap holds across a restart of the Inspector (counters come back from the database).
    const again = makeInspector({ maxEventsPerSession: 5 });
    again.recordEvent(sessionId, project.id, { type: 'error', source: 'server', message: 'late' });
    await again.flush();
    expect(await count('inspector_events')).toBe(5);
  });

  it('ignores samples of one track that come faster than the minimum interval', async () => {
    const i = makeInspector({ minSampleIntervalMs: 1000 });
    const sample = { source: 'client', connectionId: 'c1', direction: 'send', kind: 'video', bitrate: 500_000, packetLoss: 0 } as const;
    i.recordQuality(sessionId, project.id, sample);
    clock += 200;
    i.recordQuality(sessionId, project.id, sample); // too soon
    i.recordQuality(sessionId, project.id, { ...sample, kind: 'audio' }); // another track
    clock += 1000;
    i.recordQuality(sessionId, project.id, sample);
    await i.flush();
    expect(await count('inspector_quality')).toBe(3);
  });

  it('keeps every sample of a 1 s timer that fires a few ms early (default minimum interval)', async () => {
    const i = makeInspector();
    const sample = { source: 'publisher', connectionId: 'c1', streamId: 's1', kind: 'video', bitrate: 500_000, packetLoss: 0 } as const;
    for (let k = 0; k < 5; k++) {
      i.recordQuality(sessionId, project.id, sample);
      clock += 995;
    }
    i.recordQuality(sessionId, project.id, sample);
    clock += 500;
    i.recordQuality(sessionId, project.id, sample); // a chatty client's: dropped
    await i.flush();
    expect(await count('inspector_quality')).toBe(6);
  });

  it('writes pending rows on close() and records nothing after', async () => {
    const i = makeInspector();
    i.recordEvent(sessionId, project.id, { type: 'connectionCreated', connectionId: 'c1' });
    await i.close();
    await i.close();
    expect(await count('inspector_events')).toBe(1);
    i.recordEvent(sessionId, project.id, { type: 'connectionDestroyed', connectionId: 'c1', reason: 'clientDisconnected' });
    expect(await count('inspector_events')).toBe(1);
  });
});

describe('retention', () => {
  it('prunes events, samples and session rows older than the retention age', async () => {
    const i = makeInspector({ retentionDays: 2 });
    i.recordEvent(sessionId, project.id, { type: 'connectionCreated', connectionId: 'old' });
    i.recordQuality(sessionId, project.id, { source: 'publisher', connectionId: 'old', streamId: 's', kind: 'audio', bitrate: 40_000, packetLoss: 0 });
    await i.flush();
    clock += 3 * 86_400_000;
    const fresh = (await new SessionManager(store, logger).create(project, routed)).id;
    i.recordEvent(fresh, project.id, { type: 'connectionCreated', connectionId: 'new' });
    expect((await i.prune())).toEqual({ events: 1, samples: 1, sessions: 1 });
    expect((await i.listSessions(project.id)).map((s) => s.sessionId)).toEqual([fresh]);
    expect((await i.events(sessionId)).items).toEqual([]);
    expect((await i.events(fresh)).items).toHaveLength(1);
  });

  it('prunes at start', async () => {
    const i = makeInspector({ retentionDays: 1 });
    i.recordEvent(sessionId, project.id, { type: 'connectionCreated', connectionId: 'c' });
    await i.close();
    clock += 2 * 86_400_000;
    await makeInspector({ retentionDays: 1 }).startPruned;
    expect(await count('inspector_events')).toBe(0);
    expect(await count('inspector_sessions')).toBe(0);
  });
});

describe('queries', () => {
  it('filters events by type, connection, stream, errors and time, and pages with a cursor', async () => {
    const i = makeInspector();
    for (let n = 0; n < 25; n++) {
      clock += 1000;
      i.recordEvent(sessionId, project.id, { type: 'connectionCreated', connectionId: `c${n}` });
      if (n % 5 === 0) i.recordEvent(sessionId, project.id, { type: 'error', source: 'client', code: 1500, name: 'OT_UNABLE_TO_PUBLISH', message: 'no camera', connectionId: `c${n}`, streamId: 'sx' });
    }
    const t0 = 1_700_000_000_000;
    expect((await i.events(sessionId, { errorsOnly: true })).items).toHaveLength(5);
    expect((await i.events(sessionId, { connectionId: 'c5' })).items.map((e) => e.type)).toEqual(['connectionCreated', 'error']);
    expect((await i.events(sessionId, { streamId: 'sx' })).items).toHaveLength(5);
    expect((await i.events(sessionId, { types: ['error'], since: t0 + 10_000, until: t0 + 20_000 })).items.map((e) => e.connectionId)).toEqual(['c10', 'c15']);
    const seen: string[] = [];
    let after: number | undefined;
    for (let pages = 0; pages < 10; pages++) {
      const page = await i.events(sessionId, { limit: 7, after });
      seen.push(...page.items.map((e) => `${e.type}:${e.connectionId}`));
      if (page.next === null) break;
      after = page.next;
    }
    expect(seen).toHaveLength(30);
    expect(new Set(seen).size).toBe(30);
  });

  it('answers quality as time series per track, averaged into buckets', async () => {
    const i = makeInspector({ minSampleIntervalMs: 0 });
    const t0 = clock;
    for (let n = 0; n < 10; n++) {
      clock = t0 + n * 1000;
      i.recordQuality(sessionId, project.id, { source: 'publisher', connectionId: 'pub', streamId: 's1', kind: 'video', bitrate: 100_000 * (n + 1), packetLoss: 0.01, jitterMs: 5, frameRate: 30, width: 640, height: 480 });
      i.recordQuality(sessionId, project.id, { source: 'subscriber', connectionId: 'sub', streamId: 's1', kind: 'video', bitrate: 90_000 * (n + 1), packetLoss: 0.02, rttMs: 40, nackCount: 1, pliCount: n === 0 ? 1 : 0, layer: 2 });
    }
    const raw = await i.quality(sessionId);
    expect(raw.bucketMs).toBe(1000);
    expect(raw.tracks.map((t) => [t.source, t.connectionId, t.streamId, t.kind, t.points.length])).toEqual([
      ['publisher', 'pub', 's1', 'video', 10],
      ['subscriber', 'sub', 's1', 'video', 10],
    ]);
    expect(raw.tracks[0]!.points.map((p) => p.bitrate)).toEqual([100_000, 200_000, 300_000, 400_000, 500_000, 600_000, 700_000, 800_000, 900_000, 1_000_000]);
    expect(raw.tracks[0]!.points[0]).toMatchObject({ t: t0, packetLoss: 0.01, jitterMs: 5, frameRate: 30, width: 640, height: 480 });
    expect(raw.tracks[1]!.points[0]).toMatchObject({ rttMs: 40, nackCount: 1, pliCount: 1, layer: 2 });
    const coarse = await i.quality(sessionId, { source: 'publisher', bucketMs: 5000 });
    expect(coarse.tracks).toHaveLength(1);
    const points = coarse.tracks[0]!.points;
    // t0 is a multiple of 5000, so the buckets are the first and the last five samples.
    expect(points.map((p) => p.bitrate)).toEqual([300_000, 800_000]);
    expect((await i.quality(sessionId, { connectionId: 'sub', since: t0 + 8000 })).tracks[0]!.points).toHaveLength(2);
  });

  it('scores connections from their tracks: clean links high, lossy and starved links low', async () => {
    const i = makeInspector({ minSampleIntervalMs: 0 });
    for (let n = 0; n < 5; n++) {
      clock += 1000;
      i.recordQuality(sessionId, project.id, { source: 'publisher', connectionId: 'good', streamId: 'sg', kind: 'video', bitrate: 900_000, packetLoss: 0, jitterMs: 2, frameRate: 30, width: 640, height: 480 });
      i.recordQuality(sessionId, project.id, { source: 'publisher', connectionId: 'good', streamId: 'sg', kind: 'audio', bitrate: 40_000, packetLoss: 0, jitterMs: 2 });
      i.recordQuality(sessionId, project.id, { source: 'subscriber', connectionId: 'lossy', streamId: 'sg', kind: 'video', bitrate: 800_000, packetLoss: 0.15, rttMs: 300, width: 640, height: 480, frameRate: 30 });
      i.recordQuality(sessionId, project.id, { source: 'client', connectionId: 'clientonly', direction: 'receive', streamId: 'sg', kind: 'video', bitrate: 100_000, packetLoss: 0, rttMs: 20, width: 640, height: 480, frameRate: 30 });
    }
    const scores = new Map((await i.scores(sessionId)).map((s) => [s.connectionId, s]));
    expect(scores.get('good')!.score).toBeGreaterThan(4.8);
    expect(scores.get('good')!.basis).toBe('server');
    expect(scores.get('good')!.tracks).toHaveLength(2);
    expect(scores.get('lossy')!.score).toBeLessThan(3.5);
    expect(scores.get('clientonly')!.basis).toBe('client');
    // 100 kbps for 640x480x30 is far below its need: a clean network, a poor picture.
    expect(scores.get('clientonly')!.score).toBeLessThan(3);
  });

  it('builds participants with timelines, streams, subscriptions, error counts and scores', async () => {
    const i = makeInspector();
    const t0 = clock;
    i.recordEvent(sessionId, project.id, { type: 'connectionCreated', connectionId: 'a', userAgent: 'UA-a', ip: '10.0.0.1' });
    clock = t0 + 1000;
    i.recordEvent(sessionId, project.id, { type: 'connectionCreated', connectionId: 'b' });
    clock = t0 + 2000;
    i.recordEvent(sessionId, project.id, { type: 'streamCreated', connectionId: 'a', streamId: 'sa', videoType: 'camera' });
    clock = t0 + 3000;
    i.recordEvent(sessionId, project.id, { type: 'subscriberCreated', connectionId: 'b', streamId: 'sa' });
    i.recordQuality(sessionId, project.id, { source: 'subscriber', connectionId: 'b', streamId: 'sa', kind: 'audio', bitrate: 40_000, packetLoss: 0 });
    clock = t0 + 4000;
    i.recordEvent(sessionId, project.id, { type: 'error', source: 'client', message: 'decoder', connectionId: 'b' });
    clock = t0 + 9000;
    i.recordEvent(sessionId, project.id, { type: 'connectionDestroyed', connectionId: 'a', reason: 'forceDisconnected' });
    const people = await i.participants(sessionId);
    expect(people.map((p) => p.connectionId)).toEqual(['a', 'b']);
    const [a, b] = people as [(typeof people)[0], (typeof people)[0]];
    expect(a).toMatchObject({ createdAt: t0, destroyedAt: t0 + 9000, reason: 'forceDisconnected', live: false, endUnknown: false, userAgent: 'UA-a', ip: '10.0.0.1', errors: 0 });
    // Its stream had no streamDestroyed: it ends with its connection.
    expect(a.streams).toEqual([{ streamId: 'sa', videoType: 'camera', name: null, createdAt: t0 + 2000, destroyedAt: t0 + 9000, reason: null }]);
    expect(b).toMatchObject({ live: true, destroyedAt: null, errors: 1, subscriptions: [{ streamId: 'sa', createdAt: t0 + 3000, destroyedAt: null }] });
    expect(b.score?.score).toBeGreaterThan(4.5);
  });
});

describe('live view', () => {
  it('follows connections, streams, subscriptions and the latest bitrate, and forgets what left', async () => {
    const i = makeInspector();
    i.recordEvent(sessionId, project.id, { type: 'connectionCreated', connectionId: 'a', role: 'publisher' });
    i.recordEvent(sessionId, project.id, { type: 'connectionCreated', connectionId: 'b' });
    i.recordEvent(sessionId, project.id, { type: 'streamCreated', connectionId: 'a', streamId: 'sa', hasAudio: true, hasVideo: true, width: 640, height: 480 });
    i.recordEvent(sessionId, project.id, { type: 'subscriberCreated', connectionId: 'b', streamId: 'sa' });
    expect(i.liveSession(sessionId)!.streams[0]).toMatchObject({ width: 640, height: 480, bitrate: null, frameRate: null });
    i.recordEvent(sessionId, project.id, { type: 'streamPropertyChanged', streamId: 'sa', property: 'videoDimensions', oldValue: { width: 640, height: 480 }, newValue: { width: 1280, height: 720 } });
    i.recordQuality(sessionId, project.id, { source: 'publisher', connectionId: 'a', streamId: 'sa', kind: 'video', bitrate: 600_000, packetLoss: 0, frameRate: 29.5 });
    i.recordQuality(sessionId, project.id, { source: 'publisher', connectionId: 'a', streamId: 'sa', kind: 'audio', bitrate: 40_000, packetLoss: 0 });
    i.recordQuality(sessionId, project.id, { source: 'subscriber', connectionId: 'b', streamId: 'sa', kind: 'video', bitrate: 550_000, packetLoss: 0 });
    i.recordEvent(sessionId, project.id, { type: 'streamPropertyChanged', streamId: 'sa', property: 'hasVideo', oldValue: true, newValue: false });
    const live = i.liveSession(sessionId)!;
    expect(live.connections.map((c) => c.connectionId)).toEqual(['a', 'b']);
    expect(live.streams).toEqual([expect.objectContaining({ streamId: 'sa', connectionId: 'a', hasAudio: true, hasVideo: false, width: 1280, height: 720, frameRate: 29.5, bitrate: 640_000 })]);
    expect(live.subscriptions).toEqual([expect.objectContaining({ connectionId: 'b', streamId: 'sa', bitrate: 550_000 })]);
    expect(live.bitrateIn).toBe(640_000);
    expect(live.bitrateOut).toBe(550_000);
    expect(i.liveSessions(project.id).map((s) => s.sessionId)).toEqual([sessionId]);
    expect(i.liveSessions(other.id)).toEqual([]);
    expect((await i.getSession(sessionId))?.liveConnections).toBe(2);

    i.recordEvent(sessionId, project.id, { type: 'connectionDestroyed', connectionId: 'a', reason: 'clientDisconnected' });
    const after = i.liveSession(sessionId)!;
    expect(after.streams).toEqual([]);
    expect(after.subscriptions).toEqual([]);
    expect(after.bitrateIn).toBe(0);
    i.recordEvent(sessionId, project.id, { type: 'connectionDestroyed', connectionId: 'b', reason: 'clientDisconnected' });
    expect(i.liveSession(sessionId)).toBeNull();
    expect((await i.participants(sessionId)).every((p) => !p.live && !p.endUnknown)).toBe(true);
  });

  it('drops tracks that stopped reporting', async () => {
    const i = makeInspector();
    i.recordEvent(sessionId, project.id, { type: 'connectionCreated', connectionId: 'a' });
    i.recordQuality(sessionId, project.id, { source: 'client', connectionId: 'a', direction: 'send', kind: 'video', bitrate: 300_000, packetLoss: 0 });
    expect(i.liveSession(sessionId)!.bitrateIn).toBe(300_000);
    clock += 31_000;
    expect(i.liveSession(sessionId)!.tracks).toEqual([]);
  });

  it('marks a connection the log never saw leave, from an earlier run, as ended at an unknown time', async () => {
    const first = makeInspector();
    first.recordEvent(sessionId, project.id, { type: 'connectionCreated', connectionId: 'a' });
    await first.close();
    clock += 60_000;
    const second = makeInspector();
    expect((await second.participants(sessionId))[0]).toMatchObject({ connectionId: 'a', live: false, endUnknown: true, destroyedAt: null });
    expect(second.liveSession(sessionId)).toBeNull();
  });
});

describe('project deletion', () => {
  it('removes the Inspector data of its sessions by cascade, and later recording for them is ignored', async () => {
    const i = makeInspector();
    i.recordEvent(sessionId, project.id, { type: 'connectionCreated', connectionId: 'a' });
    i.recordQuality(sessionId, project.id, { source: 'publisher', connectionId: 'a', streamId: 's', kind: 'audio', bitrate: 1, packetLoss: 0 });
    await i.flush();
    // Pending rows for a session whose project goes away are dropped at flush, not written.
    clock += 2000;
    i.recordEvent(sessionId, project.id, { type: 'connectionDestroyed', connectionId: 'a', reason: 'clientDisconnected' });
    expect(await store.projects.delete(project.id)).toBe(true);
    await i.flush();
    expect(await count('inspector_events')).toBe(0);
    expect(await count('inspector_quality')).toBe(0);
    expect(await count('inspector_sessions')).toBe(0);
    i.recordEvent(sessionId, project.id, { type: 'connectionCreated', connectionId: 'b' });
    await i.flush();
    expect(await count('inspector_events')).toBe(0);
  });
});

});

describe('score and client input', () => {
  it('follows the documented figures', async () => {
    expect(networkScore(0, 0, 0)).toBeCloseTo(4.99, 1);
    expect(networkScore(0.1, 0, 0)).toBeCloseTo(3.9, 1);
    expect(networkScore(0.2, 0, 0)).toBeCloseTo(2.8, 1);
    expect(networkScore(0, 1000, 0)).toBeCloseTo(3.3, 1);
    expect(networkScore(1, 0, 0)).toBe(1);
    expect(trackScore({ kind: 'video', bitrate: 740_000, packetLoss: 0, rttMs: 0, jitterMs: 0, frameRate: 30, width: 640, height: 480 })).toBeGreaterThan(4.9);
    expect(trackScore({ kind: 'video', bitrate: 0, packetLoss: 0, rttMs: 0, jitterMs: 0, frameRate: 30, width: 640, height: 480 })).toBe(1);
  });

  it('maps client reports to samples and error events; the protocol schema refuses bad ones first', async () => {
    const report = ClientStatsMessageSchema.parse({ type: 'clientStats', tracks: [{ direction: 'send', kind: 'video', bitrate: 500_000, packetLoss: 0.01, width: 640, height: 480, streamId: 's1' }] });
    expect(clientStatsSamples('c1', report)).toEqual([{ source: 'client', connectionId: 'c1', direction: 'send', kind: 'video', bitrate: 500_000, packetLoss: 0.01, width: 640, height: 480, streamId: 's1' }]);
    const bad = (tracks: unknown[]) => ClientStatsMessageSchema.safeParse({ type: 'clientStats', tracks }).success;
    expect(bad([{ direction: 'send', kind: 'video', bitrate: -1, packetLoss: 0 }])).toBe(false);
    expect(bad([{ direction: 'send', kind: 'video', bitrate: 1, packetLoss: 2 }])).toBe(false);
    expect(bad(new Array(33).fill({ direction: 'send', kind: 'audio', bitrate: 1, packetLoss: 0 }))).toBe(false);
    const { type: _type, ...error } = ClientErrorMessageSchema.parse({ type: 'clientError', code: 1500, name: 'OT_UNABLE_TO_PUBLISH', message: 'no camera' });
    expect(clientErrorEvent('c1', error)).toEqual({
      type: 'error',
      source: 'client',
      connectionId: 'c1',
      code: 1500,
      name: 'OT_UNABLE_TO_PUBLISH',
      message: 'no camera',
    });
    expect(ClientErrorMessageSchema.safeParse({ type: 'clientError', message: 'x'.repeat(1001) }).success).toBe(false);
  });
});
