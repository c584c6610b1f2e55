// The page of the "quality under impairment" benchmark (impairment.bench.ts): loads opentok.js from
// the server. join() connects; publish() publishes the fake camera at 1280x720 30 fps (simulcast in
// a routed session); subscribeAll(n) waits for n streams and subscribes to each; sample(ms) then
// reads every subscriber's inbound-rtp every `ms` (one loop, the next read after the previous one
// ended, so a busy machine lowers the rate instead of piling reads up) into compact rows kept in
// the page until rows() takes them. Times are Date.now() (wall clock), so the benchmark can line
// them up with the moments it changed the network and with other pages and browsers.
//
// A row: [time ms, framesDecoded, frameWidth, video bytesReceived, audio packetsReceived,
// ms since the last audio packet by the browser's own lastPacketReceivedTimestamp (or -1), the
// video's nackCount, pliCount, keyFramesDecoded and packetsLost, and the audio's concealedSamples
// (48 kHz samples the jitter buffer played as concealment: no audio had arrived for them), the
// video's jitterBufferDelay (ms, summed over frames) and jitterBufferEmittedCount (frames),
// framesReceived and framesDropped].

export const impairmentPage = (server: string): string => `<!doctype html><html><head><meta charset="utf-8"><script src="${server}/v2/js/opentok.js"></script><script>
window.subs = new Map();
window.events = [];
window.join = (apiKey, sessionId, token) => new Promise((resolve, reject) => {
  const session = OT.initSession(apiKey, sessionId, { statsReportIntervalMs: 0 });
  window.session = session;
  window.streams = [];
  session.on('streamCreated', (e) => window.streams.push(e.stream));
  session.connect(token, (e) => (e ? reject(e.message) : resolve(session.connection.connectionId)));
});
window.publish = () => new Promise((resolve, reject) => {
  const publisher = OT.initPublisher(document.body, { insertMode: 'append', width: 160, height: 90, resolution: '1280x720', frameRate: 30 }, (e) => e && reject(e.message));
  window.publisher = publisher;
  session.publish(publisher, (e) => (e ? reject(e.message) : resolve(publisher.stream.streamId)));
});
/**
 * The publisher's own view: its bandwidth estimate (the candidate pair's availableOutgoingBitrate,
 * kbps; -1 without one) and per rid of its simulcast encodings the bytes sent, width, frames
 * encoded, what limits the quality and whether it is active.
 */
window.pubRead = async () => {
  let estimate = -1;
  const encodings = {};
  for (const { rtcStatsReport } of await window.publisher.getRtcStatsReport()) rtcStatsReport.forEach((s) => {
    if (s.type === 'candidate-pair' && s.nominated && typeof s.availableOutgoingBitrate === 'number') estimate = Math.round(s.availableOutgoingBitrate / 1000);
    if (s.type === 'outbound-rtp' && s.kind === 'video') encodings[s.rid || '-'] = { bytes: s.bytesSent || 0, width: s.frameWidth || 0, frames: s.framesEncoded || 0, limit: s.qualityLimitationReason, active: s.active };
  });
  return { estimate, encodings };
};
window.pubStats = async () => (await window.pubRead()).encodings;
/** Once a second from publish: pubRead() as [time ms, estimate kbps, encodings] rows (pubRows() takes them). */
window.pubRowsKept = [];
window.pubSample = () => {
  (async () => {
    while (window.publisher) {
      const started = Date.now();
      try {
        const { estimate, encodings } = await window.pubRead();
        window.pubRowsKept.push([started, estimate, encodings]);
      } catch {}
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - started))));
    }
  })();
};
window.pubRows = () => window.pubRowsKept.splice(0);
window.subscribeAll = (n, timeoutMs) => new Promise((resolve, reject) => {
  const deadline = Date.now() + timeoutMs;
  const tick = () => {
    if (window.streams.length >= n) {
      for (const stream of window.streams) {
        const sub = session.subscribe(stream, document.body, { insertMode: 'append', width: 160, height: 90 }, (e) => e && window.events.push({ type: 'subscribeError', streamId: stream.streamId, message: e.message, at: Date.now() }));
        for (const type of ['videoDisabled', 'videoEnabled', 'videoDisableWarning', 'videoDisableWarningLifted']) {
          sub.on(type, (e) => window.events.push({ type, streamId: stream.streamId, reason: e.reason, at: Date.now() }));
        }
        window.subs.set(stream.streamId, { sub, rows: [] });
      }
      resolve(window.streams.map((s) => s.streamId));
    } else if (Date.now() > deadline) reject('only ' + window.streams.length + ' of ' + n + ' streams after ' + timeoutMs + ' ms');
    else setTimeout(tick, 100);
  };
  tick();
});
window.sample = (ms) => {
  window.sampling = true;
  (async () => {
    while (window.sampling) {
      const started = Date.now();
      await Promise.all([...window.subs.values()].map(async (entry) => {
        let report;
        try { report = await entry.sub.getRtcStatsReport(); } catch { return; }
        const at = Date.now();
        let frames = 0, width = 0, bytes = 0, audio = 0, age = -1, nacks = 0, plis = 0, keys = 0, lost = 0, concealed = 0, jbDelay = 0, jbFrames = 0, received = 0, dropped = 0;
        report.forEach((s) => {
          if (s.type !== 'inbound-rtp') return;
          if (s.kind === 'video') {
            frames = s.framesDecoded || 0; width = s.frameWidth || 0; bytes = s.bytesReceived || 0;
            nacks = s.nackCount || 0; plis = s.pliCount || 0; keys = s.keyFramesDecoded || 0; lost = s.packetsLost || 0;
            jbDelay = Math.round((s.jitterBufferDelay || 0) * 1000); jbFrames = s.jitterBufferEmittedCount || 0;
            received = s.framesReceived || 0; dropped = s.framesDropped || 0;
          }
          if (s.kind === 'audio') {
            audio = s.packetsReceived || 0;
            concealed = s.concealedSamples || 0;
            if (typeof s.lastPacketReceivedTimestamp === 'number') age = Math.max(0, Math.round(s.timestamp - s.lastPacketReceivedTimestamp));
          }
        });
        entry.rows.push([at, frames, width, bytes, audio, age, nacks, plis, keys, lost, concealed, jbDelay, jbFrames, received, dropped]);
      }));
      await new Promise((r) => setTimeout(r, Math.max(0, ms - (Date.now() - started))));
    }
  })();
  return true;
};
/** The rows gathered since the last call, per stream id (and stops sampling if asked). */
window.rows = (stop) => {
  if (stop) window.sampling = false;
  const out = {};
  for (const [id, entry] of window.subs) { out[id] = entry.rows; entry.rows = []; }
  return out;
};
</script></head><body></body></html>`;

/** One simulcast encoding as the page's pubRead() reports it. */
export interface PubEncoding {
  bytes: number;
  width: number;
  frames: number;
  limit?: string;
  active?: boolean;
}

/** A row of the page's pubRows(): [time ms, the publisher's estimate kbps, encodings by rid]. */
export type PubRow = [number, number, Record<string, PubEncoding>];

/**
 * Each second of `rows` as `label:estimate/q,h,f` (kbps sent per layer, lowest first; p paused by
 * the SFU, b limited by bandwidth, c by CPU), and whatever `extra` adds for that second.
 */
export function publisherSeconds(rows: PubRow[], label: (at: number) => string, extra: (from: number, to: number) => string = () => ''): string[] {
  return rows.slice(1).map((r, k) => {
    const prev = rows[k]!;
    const secs = (r[0] - prev[0]) / 1000;
    const layers = Object.keys(r[2]).sort().reverse().map((rid) => {
      const { bytes, active, limit } = r[2][rid]!;
      return `${active === false ? 'p' : ''}${Math.round(((bytes - (prev[2][rid]?.bytes ?? bytes)) * 8) / secs / 1000)}${limit === 'bandwidth' ? 'b' : limit === 'cpu' ? 'c' : ''}`;
    });
    return `${label(r[0])}:${r[1]}/${layers.join(',')}${extra(prev[0], r[0])}`;
  });
}
