// A throwaway signaling server for media tests and benchmarks until real signaling exists: a page
// with raw RTCPeerConnection code, and JSON endpoints that call the media engine directly
// (POST /publish: offer -> answer; /subscribe -> offer; /answer; /candidate; /close).

import { MediaEngine, type PublisherTransport, type Router, type SubscriberTransport, type UplinkEstimation, type VideoCodecName } from '@colloquy/sfu';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { pino } from 'pino';
import type { Page } from 'playwright-core';
import { CANVAS_TRACK_SCRIPT, NOISE_TRACK_SCRIPT, PAN_TRACK_SCRIPT } from './page-scripts.js';

export interface MediaHarness {
  url: string;
  engine: MediaEngine;
  /** The router for a room, created on first use with these options. */
  router(room: string, options?: RoomOptions): Router;
  publishers: Map<string, PublisherTransport>;
  subscribers: Map<string, SubscriberTransport>;
  close(): Promise<void>;
}

export interface RoomOptions {
  videoCodec?: VideoCodecName;
  maxIncomingBitrate?: number;
  uplinkEstimation?: UplinkEstimation;
}

export interface MediaHarnessOptions {
  /** Options of the engine (ports, default bitrate cap). */
  portRange?: [number, number];
  maxIncomingBitrate?: number;
  /** Per-room settings used when a page names a room that does not exist yet. */
  rooms?: Record<string, RoomOptions>;
  /**
   * The address the page server listens on and the SFU announces and binds (default 127.0.0.1):
   * e.g. a netem namespace's hostAddress, for a browser inside the namespace.
   */
  host?: string;
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return chunks.length ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
}

/**
 * One subscriber join on a harness page: `media.subscribe(producerIds)`, waits up to `timeoutMs`
 * for the first rendered frame, closes the subscription. Milliseconds from subscribe() to that
 * frame, or null when none came in time.
 */
export async function firstFrameJoin(page: Page, producerIds: string[], timeoutMs = 10_000): Promise<number | null> {
  const { transportId } = (await page.evaluate((p) => (window as any).media.subscribe(p), producerIds)) as { transportId: string };
  const deadline = Date.now() + timeoutMs;
  let ms: number | null = null;
  while (ms === null && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
    ms = (await page.evaluate((id) => (window as any).media.firstFrameMs(id), transportId)) as number | null;
  }
  await page.evaluate((id) => (window as any).media.close(id), transportId);
  return ms;
}

export async function startMediaHarness(options: MediaHarnessOptions = {}): Promise<MediaHarness> {
  const host = options.host ?? '127.0.0.1';
  const engine = new MediaEngine({
    logger: pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }),
    announcedIps: [host],
    listenIp: host,
    ...(options.portRange ? { portRange: options.portRange } : {}),
    ...(options.maxIncomingBitrate ? { maxIncomingBitrate: options.maxIncomingBitrate } : {}),
  });
  const publishers = new Map<string, PublisherTransport>();
  const subscribers = new Map<string, SubscriberTransport>();
  const router = (room: string, roomOptions = options.rooms?.[room] ?? {}): Router =>
    engine.getRouter(room) ?? engine.createRouter({ id: room, ...roomOptions });

  const server: Server = createServer((req, res) => {
    void (async () => {
      try {
        if (req.method === 'GET' && (req.url === '/' || req.url?.startsWith('/?'))) {
          res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE);
          return;
        }
        if (req.url === '/favicon.ico') {
          res.writeHead(204).end();
          return;
        }
        if (req.method !== 'POST') {
          res.writeHead(404).end();
          return;
        }
        const body = await readJson(req);
        let result: unknown = {};
        switch (req.url) {
          case '/publish': {
            const transport = router(String(body['room'] ?? 'default')).createPublisherTransport();
            publishers.set(transport.id, transport);
            const { answer, producers } = await transport.acceptOffer(body['sdp']);
            result = { transportId: transport.id, answer, producers: producers.map((p) => ({ id: p.id, kind: p.kind })) };
            break;
          }
          case '/subscribe': {
            const r = router(String(body['room'] ?? 'default'));
            const ids = body['producerIds'] as string[];
            const producers = ids.map((id) => {
              const p = r.getProducer(id);
              if (!p) throw new Error(`no producer ${id}`);
              return p;
            });
            const transport = r.createSubscriberTransport();
            subscribers.set(transport.id, transport);
            transport.consume(producers);
            result = { transportId: transport.id, offer: await transport.createOffer() };
            break;
          }
          case '/answer':
            await subscribers.get(String(body['transportId']))!.acceptAnswer(body['sdp']);
            break;
          case '/candidate': {
            const id = String(body['transportId']);
            await (publishers.get(id) ?? subscribers.get(id))?.addRemoteCandidate(body['candidate'] as never);
            break;
          }
          case '/close': {
            const id = String(body['transportId']);
            await (publishers.get(id) ?? subscribers.get(id))?.close();
            publishers.delete(id);
            subscribers.delete(id);
            break;
          }
          default:
            res.writeHead(404).end();
            return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result));
      } catch (err) {
        res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (err as Error).message }));
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://${host}:${port}/`,
    engine,
    router,
    publishers,
    subscribers,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await engine.close();
    },
  };
}

/**
 * The page. window.media.publish(options) and .subscribe(producerIds) return ids; .stats(id)
 * reads getStats() into plain numbers. Plain RTCPeerConnection, no SDK.
 */
const PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>media harness</title></head><body>
<script>
const pcs = new Map();
async function post(path, body) {
  const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = await res.json();
  if (!res.ok) throw new Error(path + ': ' + json.error);
  return json;
}
function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') resolve(); });
    setTimeout(resolve, 2000);
  });
}
${CANVAS_TRACK_SCRIPT}
${NOISE_TRACK_SCRIPT}
${PAN_TRACK_SCRIPT}
window.media = {
  /**
   * noise: the video is makeNoiseTrack's (a source that wants any bitrate), not the fake camera;
   * pan: makePanTrack's (a detailed picture in motion, fps frames a second).
   */
  async publish({ room = 'default', audio = true, video = true, screen = false, noise = false, pan = false, fps = 30, width = 640, height = 480, maxBitrate } = {}) {
    const tracks = [];
    const camera = video && !screen && !noise && !pan;
    if (audio || camera) {
      const stream = await navigator.mediaDevices.getUserMedia({ audio, video: camera ? { width, height, frameRate: 30 } : false });
      tracks.push(...stream.getTracks());
    }
    if (screen) tracks.push(makeCanvasTrack());
    if (video && noise) tracks.push(makeNoiseTrack(width, height, 15));
    if (video && pan) tracks.push(makePanTrack(width, height, fps));
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    for (const track of tracks) {
      const init = { direction: 'sendonly' };
      if (track.kind === 'video' && maxBitrate) init.sendEncodings = [{ maxBitrate }];
      const { sender } = pc.addTransceiver(track, init);
      // Noise: the bitrate is what is measured, so a busy CPU lowers the frame rate, not the size.
      if (track.kind === 'video' && (noise || pan)) {
        const params = sender.getParameters();
        params.degradationPreference = 'maintain-resolution';
        await sender.setParameters(params).catch(() => {});
      }
    }
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const { transportId, answer, producers } = await post('/publish', { room, sdp: pc.localDescription.sdp });
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    pcs.set(transportId, pc);
    return { transportId, producers };
  },
  async subscribe(producerIds, { room = 'default' } = {}) {
    const started = performance.now();
    const { transportId, offer } = await post('/subscribe', { room, producerIds });
    const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
    const video = document.createElement('video');
    video.muted = true; video.autoplay = true; video.playsInline = true;
    document.body.append(video);
    const stream = new MediaStream();
    pc.ontrack = (e) => { stream.addTrack(e.track); video.srcObject = stream; };
    const entry = { pc, started, firstFrameAt: null };
    const onFrame = () => { entry.firstFrameAt ??= performance.now(); };
    video.requestVideoFrameCallback(onFrame);
    await pc.setRemoteDescription({ type: 'offer', sdp: offer });
    await pc.setLocalDescription(await pc.createAnswer());
    await gathered(pc);
    await post('/answer', { transportId, sdp: pc.localDescription.sdp });
    pcs.set(transportId, pc);
    pcs.set(transportId + ':entry', entry);
    return { transportId };
  },
  /** Milliseconds from subscribe() start to the first rendered video frame, or null. */
  firstFrameMs(transportId) {
    const e = pcs.get(transportId + ':entry');
    return e && e.firstFrameAt !== null ? e.firstFrameAt - e.started : null;
  },
  async stats(transportId) {
    const pc = pcs.get(transportId);
    const report = await pc.getStats();
    const out = { inbound: {}, outbound: {}, remoteInbound: {}, availableOutgoingBitrate: null, pairBytesSent: 0, connectionState: pc.connectionState };
    let selectedPair = null;
    for (const s of report.values()) if (s.type === 'transport' && s.selectedCandidatePairId) selectedPair = s.selectedCandidatePairId;
    for (const s of report.values()) {
      if (s.type === 'inbound-rtp') {
        out.inbound[s.kind] = { packetsReceived: s.packetsReceived, bytesReceived: s.bytesReceived, framesDecoded: s.framesDecoded,
          frameWidth: s.frameWidth, frameHeight: s.frameHeight, packetsLost: s.packetsLost, nackCount: s.nackCount, pliCount: s.pliCount,
          decoderImplementation: s.decoderImplementation, codecId: s.codecId };
      } else if (s.type === 'outbound-rtp') {
        out.outbound[s.kind] = { packetsSent: s.packetsSent, bytesSent: s.bytesSent, frameWidth: s.frameWidth, frameHeight: s.frameHeight,
          headerBytesSent: s.headerBytesSent, framesPerSecond: s.framesPerSecond, encoderImplementation: s.encoderImplementation, qualityLimitationReason: s.qualityLimitationReason,
          retransmittedPacketsSent: s.retransmittedPacketsSent, retransmittedBytesSent: s.retransmittedBytesSent, targetBitrate: s.targetBitrate,
          qualityLimitationDurations: s.qualityLimitationDurations };
      } else if (s.type === 'remote-inbound-rtp') {
        // The RTT the browser took from our receiver reports (LSR/DLSR).
        out.remoteInbound[s.kind] = { roundTripTime: s.roundTripTime };
      } else if (s.type === 'candidate-pair' && s.id === selectedPair) {
        out.availableOutgoingBitrate = s.availableOutgoingBitrate ?? null;
        out.pairBytesSent = s.bytesSent ?? 0;
      }
    }
    for (const kind of ['audio', 'video']) {
      const codecId = out.inbound[kind] && out.inbound[kind].codecId;
      if (codecId) out.inbound[kind].mimeType = report.get(codecId)?.mimeType;
    }
    return out;
  },
  async close(transportId) {
    pcs.get(transportId)?.close();
    pcs.delete(transportId);
    await post('/close', { transportId });
  },
};
</script></body></html>`;
