// A test page for audio media tests (SIP, Audio Connector), served from a loopback HTTP server: it
// joins a session with the browser SDK (window.join), subscribes to every stream others publish and
// logs session events (window.log), publishes a WebAudio tone (window.publishTone, switched by window.setTone) or the
// microphone (window.publishMic: Chromium's fake capture device, e.g. a WAV given with
// --use-file-for-fake-audio-capture), and reports the loudest frequency of the last subscriber's
// audio from an AnalyserNode (window.loudest).

export const audioTestPage = (server: string): string => `<!doctype html><html><head><meta charset="utf-8">
<script src="${server}/v2/js/opentok.js"></script>
<script>
window.log = [];
window.join = (apiKey, sessionId, token) => new Promise((resolve) => {
  const session = OT.initSession(apiKey, sessionId);
  window.session = session;
  session.on('signal:dtmf', (e) => log.push({ type: 'dtmf', data: e.data, from: e.from && e.from.connectionId }));
  session.on('streamCreated', (e) => {
    log.push({ type: 'streamCreated', streamId: e.stream.streamId, hasVideo: e.stream.hasVideo, connectionId: e.stream.connection.connectionId, data: e.stream.connection.data });
    const sub = session.subscribe(e.stream, document.body, { insertMode: 'append' }, (err) => log.push({ type: 'subscribed', error: err ? err.message : null }));
    sub.on('videoElementCreated', (ev) => { window.remoteElement = ev.element; });
  });
  session.on('streamDestroyed', (e) => log.push({ type: 'streamDestroyed', streamId: e.stream.streamId, reason: e.reason }));
  session.on('connectionCreated', (e) => log.push({ type: 'connectionCreated', connectionId: e.connection.connectionId, data: e.connection.data }));
  session.on('connectionDestroyed', (e) => log.push({ type: 'connectionDestroyed', connectionId: e.connection.connectionId, reason: e.reason }));
  session.connect(token, (err) => resolve(err ? err.message : null));
});
// A tone from WebAudio as the microphone; on = false starts it silent (window.setTone switches it).
window.publishTone = (hz, on = true) => new Promise((resolve) => {
  const ctx = new AudioContext();
  const osc = ctx.createOscillator();
  osc.frequency.value = hz;
  const gain = ctx.createGain();
  gain.gain.value = on ? 0.5 : 0;
  window.setTone = (next) => { gain.gain.value = next ? 0.5 : 0; };
  const dest = ctx.createMediaStreamDestination();
  osc.connect(gain).connect(dest);
  osc.start();
  const publisher = OT.initPublisher(document.body, { insertMode: 'append', videoSource: null, audioSource: dest.stream.getAudioTracks()[0] });
  publisher.on('streamCreated', (e) => resolve(e.stream.streamId));
  session.publish(publisher);
});
// The microphone (Chromium's fake capture device), audio only.
window.publishMic = () => new Promise((resolve) => {
  const publisher = OT.initPublisher(document.body, { insertMode: 'append', videoSource: null });
  publisher.on('streamCreated', (e) => resolve(e.stream.streamId));
  session.publish(publisher, (err) => { if (err) resolve('error: ' + err.message); });
});
// The loudest frequency the subscriber plays, from an AnalyserNode on its MediaStream.
window.loudest = () => {
  const el = window.remoteElement;
  if (!el || !el.srcObject) return null;
  if (!window.analyser) {
    // The subscriber's MediaStream may not carry its audio track yet (createMediaStreamSource then
    // throws): not heard yet, try again on the next poll.
    if (el.srcObject.getAudioTracks().length === 0) return null;
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    try {
      ctx.createMediaStreamSource(el.srcObject).connect(analyser);
    } catch (e) {
      ctx.close();
      return null;
    }
    window.analyser = analyser;
    window.analyserRate = ctx.sampleRate;
  }
  const bins = new Float32Array(window.analyser.frequencyBinCount);
  window.analyser.getFloatFrequencyData(bins);
  let best = 0;
  for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
  return { hz: (best * window.analyserRate) / window.analyser.fftSize, db: bins[best] };
};
</script></head><body></body></html>`;
