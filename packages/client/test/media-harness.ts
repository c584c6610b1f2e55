// The app page for the SDK's media tests: loads /v2/js/opentok.js from the Colloquy server, and
// exposes small helpers (join, publish, subscribe, stats) that use only OpenTok.js's public API,
// so the tests read like app code. Every event the page sees goes into `window.log`.

import { CANVAS_TRACK_SCRIPT } from '@colloquy/testing/browser';

export const mediaHarness = (server: string): string => `<!doctype html>
<html><head><meta charset="utf-8"><title>colloquy media test</title>
<script src="${server}/v2/js/opentok.js"></script>
<script>
window.log = [];
window.subs = new Map();
window.streams = new Map();
const err = (e) => (e ? { code: e.code, name: e.name, message: e.message } : null);
const box = () => document.getElementById('box');

window.join = (apiKey, sessionId, token, options) => new Promise((resolve) => {
  const session = OT.initSession(apiKey, sessionId, options || {});
  window.session = session;
  session.on({
    connectionCreated: (e) => log.push({ type: 'connectionCreated', connectionId: e.connection.connectionId, at: Date.now() }),
    connectionDestroyed: (e) => log.push({ type: 'connectionDestroyed', connectionId: e.connection.connectionId, reason: e.reason, at: Date.now() }),
    sessionDisconnected: (e) => log.push({ type: 'sessionDisconnected', reason: e.reason }),
    streamCreated: (e) => {
      const s = e.stream;
      window.streams.set(s.streamId, s);
      log.push({ type: 'streamCreated', streamId: s.streamId, videoType: s.videoType, name: s.name, hasAudio: s.hasAudio, hasVideo: s.hasVideo, connectionId: s.connection.connectionId, videoDimensions: s.videoDimensions });
      if (window.autoSubscribe) window.subscribe(s);
    },
    streamDestroyed: (e) => log.push({ type: 'streamDestroyed', streamId: e.stream.streamId, reason: e.reason, at: Date.now() }),
    streamPropertyChanged: (e) => log.push({ type: 'streamPropertyChanged', streamId: e.stream.streamId, changedProperty: e.changedProperty, oldValue: e.oldValue, newValue: e.newValue, streamHasAudio: e.stream.hasAudio, streamHasVideo: e.stream.hasVideo }),
    muteForced: (e) => log.push({ type: 'sessionMuteForced', active: e.active }),
    archiveStarted: (e) => log.push({ type: 'archiveStarted', id: e.id, name: e.name }),
    archiveStopped: (e) => log.push({ type: 'archiveStopped', id: e.id, name: e.name }),
    encryptionSecretMismatch: (e) => log.push({ type: 'sessionEncryptionSecretMismatch', streamId: e.stream && e.stream.streamId }),
    encryptionSecretMatch: (e) => log.push({ type: 'sessionEncryptionSecretMatch', streamId: e.stream && e.stream.streamId }),
  });
  session.connect(token, (e) => resolve(e ? err(e) : { connectionId: session.connection.connectionId, mediaMode: null }));
});

window.subscribe = (stream, props) => {
  const sub = session.subscribe(stream, box(), Object.assign({ insertMode: 'append', width: 160, height: 120 }, props || {}), (e) => log.push({ type: 'subscribed', streamId: stream.streamId, error: err(e) }));
  window.subs.set(stream.streamId + (props && props.key ? ':' + props.key : ''), sub);
  sub.on('videoDisabled', (e) => log.push({ type: 'videoDisabled', streamId: stream.streamId, reason: e.reason }));
  sub.on('videoEnabled', (e) => log.push({ type: 'videoEnabled', streamId: stream.streamId, reason: e.reason }));
  sub.on('videoDisableWarning', () => log.push({ type: 'videoDisableWarning', streamId: stream.streamId, at: Date.now() }));
  sub.on('videoDisableWarningLifted', () => log.push({ type: 'videoDisableWarningLifted', streamId: stream.streamId, at: Date.now() }));
  sub.on('videoElementCreated', (e) => log.push({ type: 'subscriberVideoElement', tag: e.element.tagName }));
  sub.on('destroyed', () => log.push({ type: 'subscriberDestroyed', streamId: stream.streamId }));
  sub.on('encryptionSecretMismatch', () => log.push({ type: 'encryptionSecretMismatch', streamId: stream.streamId, at: Date.now() }));
  sub.on('encryptionSecretMatch', () => log.push({ type: 'encryptionSecretMatch', streamId: stream.streamId, at: Date.now() }));
  return sub;
};

window.subscribeTo = (streamId, props) => {
  const stream = window.streams.get(streamId);
  if (!stream) throw new Error('no stream ' + streamId);
  window.subscribe(stream, props);
  return true;
};

window.publish = (props) => new Promise((resolve) => {
  const publisher = OT.initPublisher(box(), Object.assign({ insertMode: 'append' }, props || {}), (e) => { if (e) log.push({ type: 'initPublisherError', error: err(e) }); });
  window.publisher = publisher;
  publisher.on({
    accessAllowed: () => log.push({ type: 'accessAllowed' }),
    accessDenied: () => log.push({ type: 'accessDenied' }),
    videoElementCreated: (e) => log.push({ type: 'publisherVideoElement', tag: e.element.tagName }),
    streamCreated: (e) => log.push({ type: 'publisherStreamCreated', streamId: e.stream.streamId, videoType: e.stream.videoType }),
    streamDestroyed: (e) => log.push({ type: 'publisherStreamDestroyed', streamId: e.stream.streamId, reason: e.reason }),
    muteForced: () => log.push({ type: 'publisherMuteForced' }),
    destroyed: () => log.push({ type: 'publisherDestroyed' }),
  });
  session.publish(publisher, (e) => resolve(e ? { error: err(e) } : { streamId: publisher.stream.streamId }));
});

/** framesDecoded, width and audio packets of every subscriber, read through subscriber.getRtcStatsReport(). */
window.subStats = async () => {
  const out = {};
  for (const [key, sub] of window.subs) {
    let report;
    try { report = await sub.getRtcStatsReport(); } catch (e) { out[key] = { error: e.name }; continue; }
    const entry = { framesDecoded: 0, width: 0, audioPackets: 0 };
    report.forEach((s) => {
      if (s.type !== 'inbound-rtp') return;
      if (s.kind === 'video') { entry.framesDecoded = s.framesDecoded || 0; entry.width = s.frameWidth || 0; }
      if (s.kind === 'audio') entry.audioPackets = s.packetsReceived || 0;
    });
    out[key] = entry;
  }
  return out;
};

/**
 * Audio continuity of one subscriber: samples its inbound audio every 50 ms (packets received,
 * concealed samples) until stopAudioWatch(); returns the longest span without a new packet and the
 * concealed audio, in ms, and the concealment readings (for longestAudibleGapMs of
 * @colloquy/testing/audio-gaps).
 */
window.watchAudio = (key) => {
  const sub = window.subs.get(key);
  const w = { samples: [], stop: false };
  window.audioWatch = w;
  (async () => {
    while (!w.stop) {
      const report = await sub.getRtcStatsReport();
      report.forEach((s) => {
        if (s.type === 'inbound-rtp' && s.kind === 'audio') w.samples.push({ t: performance.now(), packets: s.packetsReceived || 0, concealed: s.concealedSamples || 0, total: s.totalSamplesReceived || 0, rate: 48000 });
      });
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return true;
};
window.stopAudioWatch = () => {
  const w = window.audioWatch;
  w.stop = true;
  let longest = 0, since = null, last = null;
  for (const s of w.samples) {
    if (last && s.packets > last.packets) { if (since !== null) longest = Math.max(longest, s.t - since); since = s.t; }
    else if (!last) since = s.t;
    last = s;
  }
  const first = w.samples[0], end = w.samples[w.samples.length - 1];
  return { samples: w.samples.length, spanMs: end.t - first.t, packets: end.packets - first.packets, longestPacketGapMs: Math.round(longest), concealedMs: Math.round(((end.concealed - first.concealed) / 48000) * 1000), concealment: w.samples.map((s) => ({ at: s.t, concealedSamples: s.concealed })) };
};

/** The selected ICE candidate pair of an RTCStatsReport: local and remote candidate types and the relay protocol. */
const selectedPair = (report) => {
  let pairId = null;
  report.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId; });
  let pair = pairId ? report.get(pairId) : null;
  if (!pair) report.forEach((s) => { if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });
  if (!pair) return null;
  const local = report.get(pair.localCandidateId) || {};
  const remote = report.get(pair.remoteCandidateId) || {};
  return { local: local.candidateType, localProtocol: local.protocol, relayProtocol: local.relayProtocol || null, remote: remote.candidateType, remoteProtocol: remote.protocol, remotePort: remote.port, tcpType: remote.tcpType || null };
};

/** The selected candidate pair of every subscriber and of each of the publisher's peer connections. */
window.pairInfo = async () => {
  const out = { subscribers: {}, publisher: [] };
  for (const [key, sub] of window.subs) out.subscribers[key] = selectedPair(await sub.getRtcStatsReport());
  if (window.publisher) for (const { rtcStatsReport } of await window.publisher.getRtcStatsReport()) out.publisher.push(selectedPair(rtcStatsReport));
  return out;
};

/** A screen-like canvas track (moving text), for publishing as videoType 'screen'. */
${CANVAS_TRACK_SCRIPT}
window.canvasTrack = () => makeCanvasTrack(960, 540);
</script></head><body><div id="box"></div></body></html>`;
