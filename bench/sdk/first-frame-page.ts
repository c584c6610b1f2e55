// The page of the SDK first-frame benchmarks (first-frame.bench.ts, relay-first-frame.bench.ts):
// loads opentok.js from the server; publish() publishes the fake camera at 640x480; join() connects
// a new Session, subscribes to the stream on streamCreated and resolves with the ms from
// streamCreated to the first rendered frame (requestVideoFrameCallback). `window.sessionOptions`,
// when set, is merged into every initSession (e.g. an iceConfig).

export const firstFramePage = (server: string): string => `<!doctype html><html><head><meta charset="utf-8"><script src="${server}/v2/js/opentok.js"></script><script>
window.publish = (apiKey, sessionId, token) => new Promise((resolve, reject) => {
  const session = OT.initSession(apiKey, sessionId, Object.assign({ statsReportIntervalMs: 0 }, window.sessionOptions));
  session.connect(token, (e) => {
    if (e) return reject(e.message);
    const publisher = OT.initPublisher(document.body, { insertMode: 'append', resolution: '640x480' });
    window.publisher = publisher;
    session.publish(publisher, (err) => (err ? reject(err.message) : resolve(performance.now())));
  });
});
window.availableOutgoingBitrate = async () => {
  const reports = await window.publisher.getRtcStatsReport();
  let value = null;
  // Relayed: one report per subscriber; the first is the one that stayed from the start.
  for (const { rtcStatsReport } of reports.slice(0, 1)) rtcStatsReport.forEach((s) => {
    if (s.type === 'candidate-pair' && s.nominated && typeof s.availableOutgoingBitrate === 'number') value = s.availableOutgoingBitrate;
  });
  return value;
};
// One join: connect, subscribe on streamCreated, resolve with ms from streamCreated to the first rendered frame.
window.join = (apiKey, sessionId, token, stay) => new Promise((resolve, reject) => {
  const session = OT.initSession(apiKey, sessionId, Object.assign({ statsReportIntervalMs: 0 }, window.sessionOptions));
  const timer = setTimeout(() => { session.disconnect(); resolve(null); }, 10000);
  session.on('streamCreated', (event) => {
    const createdAt = performance.now();
    const subscriber = session.subscribe(event.stream, document.body, { insertMode: 'append' }, (e) => e && reject(e.message));
    subscriber.on('videoElementCreated', (e) => e.element.requestVideoFrameCallback(() => {
      clearTimeout(timer);
      const ms = performance.now() - createdAt;
      if (!stay) session.disconnect();
      resolve(ms);
    }));
  });
  session.connect(token, (e) => e && reject(e.message));
});
</script></head><body></body></html>`;
