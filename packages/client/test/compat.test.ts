// OpenTok.js behaviours real apps rely on, in Chromium against a real server: connect() called
// twice, publishVideo(false) then (true), stereo, audioBitrate and enableDtx end to end (routed through the
// SFU and relayed), OT.publishers / OT.subscribers, the logging URL, and
// media processor connectors whose processed frames reach the subscriber. Media assertions read
// what the subscriber decodes: framesDecoded rising, the picture's colour, each audio channel.

import type { TestPage } from '@colloquy/testing/browser';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectDecoding, log, MediaApp, publish, waitForLog } from './media-app.js';

let m: MediaApp;

beforeAll(async () => {
  m = await MediaApp.start();
});
afterEach(async () => m.closePages());
afterAll(async () => m?.close());

/** Helpers the tests install in a page: a panned stereo tone, a colour meter, per-channel levels, connectors. */
async function install(p: TestPage): Promise<void> {
  await p.page.evaluate(() => {
    const w = window as any;
    /** A stereo track: 440 Hz loud on the left, 1000 Hz quiet on the right. */
    w.stereoTone = () => {
      const ctx = new AudioContext();
      const merger = ctx.createChannelMerger(2);
      const tone = (frequency: number, gain: number, channel: number) => {
        const osc = ctx.createOscillator();
        osc.frequency.value = frequency;
        const g = ctx.createGain();
        g.gain.value = gain;
        osc.connect(g).connect(merger, 0, channel);
        osc.start();
      };
      tone(440, 0.8, 0);
      tone(1000, 0.05, 1);
      const dest = ctx.createMediaStreamDestination();
      dest.channelCount = 2;
      merger.connect(dest);
      return dest.stream.getAudioTracks()[0];
    };
    /** The received stream of one subscriber. */
    w.receivedStream = (streamId: string) => (w.subs.get(streamId).element.querySelector('video') as HTMLVideoElement).srcObject as MediaStream;
    /** RMS level and loudest frequency of each received audio channel, over about a second. */
    w.channelLevels = async (streamId: string) => {
      const ctx = new AudioContext();
      const source = ctx.createMediaStreamSource(new MediaStream(w.receivedStream(streamId).getAudioTracks()));
      const split = ctx.createChannelSplitter(2);
      source.connect(split);
      const analysers = [0, 1].map((channel) => {
        const a = ctx.createAnalyser();
        a.fftSize = 4096;
        split.connect(a, channel);
        return a;
      });
      const rms = [0, 0];
      const peaks = [0, 0];
      await new Promise((r) => setTimeout(r, 500));
      for (let i = 0; i < 10; i++) {
        analysers.forEach((a, c) => {
          const time = new Float32Array(a.fftSize);
          a.getFloatTimeDomainData(time);
          rms[c] += Math.sqrt(time.reduce((s, x) => s + x * x, 0) / time.length) / 10;
          const freq = new Float32Array(a.frequencyBinCount);
          a.getFloatFrequencyData(freq);
          let best = 0;
          for (let b = 1; b < freq.length; b++) if (freq[b]! > freq[best]!) best = b;
          peaks[c] = (best * ctx.sampleRate) / a.fftSize;
        });
        await new Promise((r) => setTimeout(r, 100));
      }
      await ctx.close();
      return { left: { rms: rms[0], hz: peaks[0] }, right: { rms: rms[1], hz: peaks[1] } };
    };
    /** Mean R, G, B of the subscriber's current frame. */
    w.meanColour = (streamId: string) => {
      const video = w.subs.get(streamId).element.querySelector('video') as HTMLVideoElement;
      const canvas = document.createElement('canvas');
      canvas.width = 64;
      canvas.height = 48;
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(video, 0, 0, 64, 48);
      const data = ctx.getImageData(0, 0, 64, 48).data;
      const sum = [0, 0, 0];
      for (let i = 0; i < data.length; i += 4) for (let c = 0; c < 3; c++) sum[c] += data[i + c]!;
      const n = data.length / 4;
      return { r: sum[0]! / n, g: sum[1]! / n, b: sum[2]! / n };
    };
    /** Every RTCRtpSender.setParameters call, by track kind (what the SDK asked the encoder for). */
    w.senderParameters = [];
    const original = RTCRtpSender.prototype.setParameters;
    RTCRtpSender.prototype.setParameters = function (this: RTCRtpSender, parameters: RTCRtpSendParameters) {
      w.senderParameters.push({ kind: this.track?.kind, encodings: JSON.parse(JSON.stringify(parameters.encodings)) });
      return original.call(this, parameters);
    } as typeof original;
    /** A video processor (insertable streams) that paints every frame pure red. */
    w.redConnector = () => {
      let generator: MediaStreamVideoTrack | null = null;
      return {
        setTrack: async (track: MediaStreamTrack) => {
          const processor = new (window as any).MediaStreamTrackProcessor({ track });
          generator = new (window as any).MediaStreamTrackGenerator({ kind: 'video' });
          const canvas = new OffscreenCanvas(320, 240);
          const ctx = canvas.getContext('2d')!;
          processor.readable
            .pipeThrough(
              new TransformStream({
                transform(frame: VideoFrame, controller) {
                  ctx.fillStyle = 'rgb(255, 0, 0)';
                  ctx.fillRect(0, 0, 320, 240);
                  const out = new VideoFrame(canvas, { timestamp: frame.timestamp });
                  frame.close();
                  controller.enqueue(out);
                },
              }),
            )
            .pipeTo((generator as any).writable)
            .catch(() => {});
          return generator;
        },
        destroy: async () => {
          generator?.stop();
          w.log.push({ type: 'connectorDestroyed', kind: 'video' });
        },
      };
    };
    /** An audio processor that silences the microphone (WebAudio gain 0). */
    w.muteConnector = () => {
      let ctx: AudioContext | null = null;
      return {
        setTrack: async (track: MediaStreamTrack) => {
          ctx = new AudioContext();
          const gain = ctx.createGain();
          gain.gain.value = 0;
          const dest = ctx.createMediaStreamDestination();
          ctx.createMediaStreamSource(new MediaStream([track])).connect(gain).connect(dest);
          return dest.stream.getAudioTracks()[0];
        },
        destroy: async () => {
          await ctx?.close();
          w.log.push({ type: 'connectorDestroyed', kind: 'audio' });
        },
      };
    };
    /** The loudest audioLevelUpdated of a subscriber over 1.5 s. */
    w.maxLevel = (streamId: string) =>
      new Promise<number>((resolve) => {
        const sub = w.subs.get(streamId);
        let max = 0;
        const handler = (e: { audioLevel: number }) => (max = Math.max(max, e.audioLevel));
        sub.on('audioLevelUpdated', handler);
        setTimeout(() => {
          sub.off('audioLevelUpdated', handler);
          resolve(max);
        }, 1500);
      });
  });
}

/** A page that publishes (with `props`) and one that subscribes to it and decodes. */
async function pair(mediaMode: 'routed' | 'relayed', props: Record<string, unknown> | ((p: TestPage) => Promise<Record<string, unknown>>) = {}): Promise<{ sessionId: string; a: TestPage; b: TestPage; streamId: string }> {
  const sessionId = await m.createSession(mediaMode);
  const [a, b] = [await m.openPage(), await m.openPage()];
  await install(a);
  await install(b);
  await b.page.evaluate(() => ((window as any).autoSubscribe = true));
  await m.join(a, sessionId, 'publisher', 'name=Ada');
  await m.join(b, sessionId, 'publisher', 'name=Bob');
  const published = await publish(a, { width: 160, height: 120, resolution: '320x240', ...(typeof props === 'function' ? await props(a) : props) });
  expect(published.streamId, JSON.stringify(published)).toBeTruthy();
  await waitForLog(b, (l) => l.some((e) => e.type === 'subscribed' && e.streamId === published.streamId), 'subscribed');
  return { sessionId, a, b, streamId: published.streamId! };
}

describe('session.connect()', () => {
  it('called again while connecting and once connected: a warning, no error, no unhandled rejection; handlers hear the one outcome', async () => {
    const sessionId = await m.createSession('routed');
    const p = await m.openPage();
    const warnings: string[] = [];
    p.page.on('console', (msg) => {
      if (msg.type() === 'warning') warnings.push(msg.text());
    });
    const token = m.token(sessionId);
    const out = await p.page.evaluate(
      async ([apiKey, sid, tk]) => {
        const w = window as any;
        const rejections: string[] = [];
        window.addEventListener('unhandledrejection', (e) => rejections.push(String(e.reason && e.reason.name)));
        w.OT.setLogLevel(w.OT.WARN);
        const session = w.OT.initSession(apiKey, sid);
        const first = session.connect(tk);
        // While connecting: no handler (promise only), then one with a handler.
        session.connect(tk);
        const second = new Promise((resolve) => session.connect(tk, (e: { name: string } | null) => resolve(e ? e.name : 'ok')));
        await first;
        // Once connected: again.
        const third = new Promise((resolve) => session.connect(tk, (e: { name: string } | null) => resolve(e ? e.name : 'ok')));
        const fourth = await session.connect(tk).then(() => 'resolved', (e: { name: string }) => e.name);
        await new Promise((r) => setTimeout(r, 200));
        return { second: await second, third: await third, fourth, connected: session.isConnected(), rejections };
      },
      [m.t.apiKey, sessionId, token] as const,
    );
    expect(out).toEqual({ second: 'ok', third: 'ok', fourth: 'resolved', connected: true, rejections: [] });
    expect(warnings.filter((w) => /already connecting/.test(w)).length).toBeGreaterThanOrEqual(2);
    expect(warnings.filter((w) => /already connected/.test(w)).length).toBeGreaterThanOrEqual(2);
    // Still one connection on the server.
    expect(m.t.server.sessions.live(sessionId)?.connections.size).toBe(1);
  });
});

describe('publishVideo', () => {
  it('routed: off then on — hasVideo false then true at the other, getVideoSource().track null while off, the picture comes back and frames decode again', async () => {
    const { a, b, streamId } = await pair('routed');
    await expectDecoding(b, [streamId]);
    const lit = (await b.page.evaluate((id) => (window as any).meanColour(id), streamId)) as { r: number; g: number; b: number };
    expect(lit.r + lit.g + lit.b).toBeGreaterThan(60);

    expect(await a.page.evaluate(() => (window as any).publisher.publishVideo(false).getVideoSource().track)).toBeNull();
    await waitForLog(b, (l) => l.some((e) => e.type === 'streamPropertyChanged' && e['changedProperty'] === 'hasVideo' && e['newValue'] === false), 'hasVideo false');
    await waitForLog(b, (l) => l.some((e) => e.type === 'videoDisabled' && e['reason'] === 'publishVideo'), 'videoDisabled');
    await expect.poll(async () => {
      const c = (await b.page.evaluate((id) => (window as any).meanColour(id), streamId)) as { r: number; g: number; b: number };
      return c.r + c.g + c.b;
    }, { timeout: 10_000 }).toBeLessThan(15);

    const track = await a.page.evaluate(() => {
      const source = (window as any).publisher.publishVideo(true).getVideoSource();
      return source.track && { kind: source.track.kind, readyState: source.track.readyState, enabled: source.track.enabled };
    });
    expect(track).toEqual({ kind: 'video', readyState: 'live', enabled: true });
    await waitForLog(b, (l) => l.some((e) => e.type === 'streamPropertyChanged' && e['changedProperty'] === 'hasVideo' && e['newValue'] === true && e['streamHasVideo'] === true), 'hasVideo true');
    await waitForLog(b, (l) => l.some((e) => e.type === 'videoEnabled' && e['reason'] === 'publishVideo'), 'videoEnabled');
    await expectDecoding(b, [streamId]);
    await expect.poll(async () => {
      const c = (await b.page.evaluate((id) => (window as any).meanColour(id), streamId)) as { r: number; g: number; b: number };
      return c.r + c.g + c.b;
    }, { timeout: 10_000 }).toBeGreaterThan(60);
  });

  for (const mediaMode of ['routed', 'relayed'] as const) {
    it(`${mediaMode}: published with publishVideo false, then publishVideo(true) — hasVideo true at the other and frames decode`, async () => {
      const { a, b, streamId } = await pair(mediaMode, { publishVideo: false });
      await waitForLog(b, (l) => l.some((e) => e.type === 'streamCreated' && e.streamId === streamId && e['hasVideo'] === false), 'stream without video');
      expect(await a.page.evaluate(() => (window as any).publisher.getVideoSource().track)).toBeNull();
      await a.page.evaluate(() => (window as any).publisher.publishVideo(true));
      await waitForLog(b, (l) => l.some((e) => e.type === 'streamPropertyChanged' && e.streamId === streamId && e['changedProperty'] === 'hasVideo' && e['newValue'] === true), 'hasVideo true');
      await expectDecoding(b, [streamId]);
      await expect.poll(async () => {
        const c = (await b.page.evaluate((id) => (window as any).meanColour(id), streamId)) as { r: number; g: number; b: number };
        return c.r + c.g + c.b;
      }, { timeout: 10_000 }).toBeGreaterThan(60);
    });
  }

  it('turned off while the publish is on its way: the others get the stream with hasVideo false, not the state of the request', async () => {
    const sessionId = await m.createSession('routed');
    const [a, b] = [await m.openPage(), await m.openPage()];
    await m.join(a, sessionId);
    await m.join(b, sessionId);
    const result = await a.page.evaluate(
      () =>
        new Promise((resolve) => {
          const w = window as any;
          const publisher = w.OT.initPublisher(document.body, { insertMode: 'append', width: 160, height: 120, resolution: '320x240' });
          w.session.publish(publisher, (e: unknown) => resolve(e ? String(e) : publisher.stream.streamId));
          publisher.on('accessAllowed', () => setTimeout(() => publisher.publishVideo(false), 0));
        }),
    );
    expect(typeof result).toBe('string');
    const streamId = result as string;
    await expect.poll(() => m.t.server.sessions.live(sessionId)?.liveStreams().find((s) => s.id === streamId)?.hasVideo, { timeout: 10_000 }).toBe(false);
    await waitForLog(b, (l) => l.some((e) => e.streamId === streamId && ((e.type === 'streamCreated' && e['hasVideo'] === false) || (e.type === 'streamPropertyChanged' && e['newValue'] === false))), 'hasVideo false at the other');
  });
});

describe('enableStereo, audioBitrate and enableDtx', () => {
  for (const mediaMode of ['routed', 'relayed'] as const) {
    it(`${mediaMode}: a panned stereo tone arrives with its left and right channels apart; Opus stereo=1 and maxaveragebitrate, the sender's maxBitrate`, async () => {
      const { a, b, streamId } = await pair(mediaMode, async (p) => {
        await p.page.evaluate(() => ((window as any).toneTrack = (window as any).stereoTone()));
        return {};
      });
      // Publish again, properly: the tone as audioSource, stereo, 128 kbps, no video.
      await a.page.evaluate(() => (window as any).session.unpublish((window as any).publisher));
      await waitForLog(b, (l) => l.some((e) => e.type === 'streamDestroyed' && e.streamId === streamId), 'first stream gone');
      const stereo = await a.page.evaluate(() => (window as any).publish({ audioSource: (window as any).toneTrack, videoSource: null, enableStereo: true, audioBitrate: 128000 }));
      expect(stereo.streamId, JSON.stringify(stereo)).toBeTruthy();
      await waitForLog(b, (l) => l.some((e) => e.type === 'subscribed' && e.streamId === stereo.streamId && e['error'] === null), 'subscribed to the stereo stream');
      // Audio only: the proof is in each channel the subscriber hears.
      await expect
        .poll(async () => (await b.page.evaluate((id) => (window as any).channelLevels(id), stereo.streamId)) as { left: { rms: number; hz: number }; right: { rms: number; hz: number } }, { timeout: 20_000, interval: 500 })
        .toSatisfy((l: { left: { rms: number; hz: number }; right: { rms: number; hz: number } }) => l.left.rms > 0.05 && l.left.rms > 4 * l.right.rms && Math.abs(l.left.hz - 440) < 30 && Math.abs(l.right.hz - 1000) < 30);
      const heard = (await b.page.evaluate((id) => (window as any).channelLevels(id), stereo.streamId)) as { left: { rms: number; hz: number }; right: { rms: number; hz: number } };
      console.log(`${mediaMode} stereo at the subscriber: left ${heard.left.rms.toFixed(3)} rms @ ${Math.round(heard.left.hz)} Hz, right ${heard.right.rms.toFixed(3)} rms @ ${Math.round(heard.right.hz)} Hz`);

      // What was negotiated and asked of the encoder, at the publisher.
      const sent = await a.page.evaluate(async () => {
        const w = window as any;
        const fmtp: string[] = [];
        for (const { rtcStatsReport } of await w.publisher.getRtcStatsReport()) {
          rtcStatsReport.forEach((s: { type: string; mimeType?: string; sdpFmtpLine?: string }) => {
            if (s.type === 'codec' && s.mimeType === 'audio/opus' && s.sdpFmtpLine) fmtp.push(s.sdpFmtpLine);
          });
        }
        const audio = w.senderParameters.filter((p: { kind: string }) => p.kind === 'audio');
        return { fmtp, maxBitrate: audio.length ? audio[audio.length - 1].encodings[0].maxBitrate : null };
      });
      expect(sent.fmtp.length).toBeGreaterThan(0);
      for (const line of sent.fmtp) expect(line).toMatch(/stereo=1/);
      expect(sent.fmtp.some((line) => /maxaveragebitrate=128000/.test(line))).toBe(true);
      expect(sent.maxBitrate).toBe(128000);

      if (mediaMode === 'routed') {
        // Control: the same tone published mono (no enableStereo) arrives with both channels alike.
        await a.page.evaluate(() => (window as any).session.unpublish((window as any).publisher));
        await waitForLog(b, (l) => l.some((e) => e.type === 'streamDestroyed' && e.streamId === stereo.streamId), 'stereo stream gone');
        const mono = await a.page.evaluate(() => (window as any).publish({ audioSource: (window as any).toneTrack, videoSource: null }));
        await waitForLog(b, (l) => l.some((e) => e.type === 'subscribed' && e.streamId === mono.streamId && e['error'] === null), 'subscribed to the mono stream');
        await expect
          .poll(async () => (await b.page.evaluate((id) => (window as any).channelLevels(id), mono.streamId)) as { left: { rms: number }; right: { rms: number } }, { timeout: 20_000, interval: 500 })
          .toSatisfy((l: { left: { rms: number }; right: { rms: number } }) => l.left.rms > 0.02 && Math.abs(l.left.rms - l.right.rms) < 0.2 * l.left.rms);
      }
    });
  }

  for (const mediaMode of ['routed', 'relayed'] as const) {
    it(`${mediaMode}: enableDtx sends silence as a few packets a second (Opus usedtx=1), where without it the same silence goes as 50`, async () => {
      const { a, b, streamId } = await pair(mediaMode, async (p) => {
        await p.page.evaluate(() => {
          // Silence that flows: an oscillator through a zero gain (a destination with no input sends no audio at all).
          const ctx = new AudioContext();
          const osc = ctx.createOscillator();
          const gain = ctx.createGain();
          gain.gain.value = 0;
          const dest = ctx.createMediaStreamDestination();
          osc.connect(gain).connect(dest);
          osc.start();
          (window as any).silentTrack = dest.stream.getAudioTracks()[0];
        });
        return {};
      });
      /** Audio packets a second this page's publisher sends (every link), over 3 s after 1 s to settle; and its Opus fmtp lines. */
      const sending = async (): Promise<{ rate: number; fmtp: string[] }> =>
        a.page.evaluate(async () => {
          const w = window as any;
          const read = async () => {
            let packets = 0;
            const fmtp: string[] = [];
            for (const { rtcStatsReport } of await w.publisher.getRtcStatsReport()) {
              rtcStatsReport.forEach((s: { type: string; kind?: string; packetsSent?: number; mimeType?: string; sdpFmtpLine?: string }) => {
                if (s.type === 'outbound-rtp' && s.kind === 'audio') packets += s.packetsSent ?? 0;
                if (s.type === 'codec' && s.mimeType === 'audio/opus' && s.sdpFmtpLine) fmtp.push(s.sdpFmtpLine);
              });
            }
            return { packets, fmtp, at: performance.now() };
          };
          await new Promise((r) => setTimeout(r, 1000));
          const first = await read();
          await new Promise((r) => setTimeout(r, 3000));
          const last = await read();
          return { rate: ((last.packets - first.packets) * 1000) / (last.at - first.at), fmtp: last.fmtp };
        });
      let previous = streamId;
      const results: Record<string, { rate: number; fmtp: string[] }> = {};
      for (const enableDtx of [false, true]) {
        await a.page.evaluate(() => (window as any).session.unpublish((window as any).publisher));
        await waitForLog(b, (l) => l.some((e) => e.type === 'streamDestroyed' && e.streamId === previous), 'the last stream gone');
        const published = await a.page.evaluate((dtx) => (window as any).publish({ audioSource: (window as any).silentTrack, videoSource: null, ...(dtx ? { enableDtx: true } : {}) }), enableDtx);
        expect(published.streamId, JSON.stringify(published)).toBeTruthy();
        await waitForLog(b, (l) => l.some((e) => e.type === 'subscribed' && e.streamId === published.streamId && e['error'] === null), 'subscribed to the silent stream');
        previous = published.streamId;
        results[enableDtx ? 'dtx' : 'plain'] = await sending();
      }
      console.log(`${mediaMode} silence: ${results['plain']!.rate.toFixed(1)} audio packets/s without enableDtx, ${results['dtx']!.rate.toFixed(1)} with it`);
      expect(results['plain']!.rate).toBeGreaterThan(30);
      expect(results['dtx']!.rate).toBeLessThan(0.4 * results['plain']!.rate);
      expect(results['dtx']!.fmtp.some((line) => /usedtx=1/.test(line))).toBe(true);
      expect(results['plain']!.fmtp.some((line) => /usedtx=1/.test(line))).toBe(false);
    });
  }

  it('an audioBitrate out of 6000..510000 is ignored with a warning (no maxaveragebitrate)', async () => {
    const p = await m.openPage();
    const warnings: string[] = [];
    p.page.on('console', (msg) => {
      if (msg.type() === 'warning') warnings.push(msg.text());
    });
    await p.page.evaluate(() => {
      const w = window as any;
      w.OT.setLogLevel(w.OT.WARN);
      w.OT.initPublisher(document.body, { insertMode: 'append', audioBitrate: 1000, videoSource: null });
    });
    await expect.poll(() => warnings.some((w) => /audioBitrate must be 6000 to 510000/.test(w))).toBe(true);
  });
});

describe('OT.publishers and OT.subscribers', () => {
  it('find, where and length follow the page\'s publishers and subscribers', async () => {
    const { a, b, streamId } = await pair('routed');
    const pub = await a.page.evaluate(() => {
      const w = window as any;
      return {
        length: w.OT.publishers.length(),
        byId: w.OT.publishers.find({ id: w.publisher.id }) === w.publisher,
        byFn: w.OT.publishers.where((p: any) => p.stream && p.stream.streamId === w.publisher.stream.streamId).length,
        none: w.OT.publishers.find({ id: 'nope' }) === undefined,
        subscribers: w.OT.subscribers.length(),
      };
    });
    expect(pub).toEqual({ length: 1, byId: true, byFn: 1, none: true, subscribers: 0 });
    const sub = await b.page.evaluate((id) => {
      const w = window as any;
      const stream = w.streams.get(id);
      const found = w.OT.subscribers.where({ stream });
      const before = w.OT.subscribers.length();
      w.subs.get(id).destroy();
      return { before, found: found.length, same: found[0] === w.subs.get(id), after: w.OT.subscribers.length(), publishers: w.OT.publishers.length() };
    }, streamId);
    expect(sub).toEqual({ before: 1, found: 1, same: true, after: 0, publishers: 0 });
    expect(await a.page.evaluate(() => ((window as any).publisher.destroy(), (window as any).OT.publishers.length()))).toBe(0);
  });
});

describe('the logging URL', () => {
  it('OT.properties.loggingURL is the server: a client event posted there from the app\'s origin reaches the Inspector', async () => {
    const sessionId = await m.createSession('routed');
    const p = await m.openPage();
    const connectionId = await m.join(p, sessionId);
    const out = await p.page.evaluate(
      async ([sid, key]) => {
        const w = window as any;
        const url = w.OT.properties.loggingURL + '/logging/ClientEvent';
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ action: 'PrecallTest', variation: 'Success', sessionId: sid, partnerId: key, connectionId: w.session.connection.connectionId }),
        });
        return { url, status: response.status };
      },
      [sessionId, m.t.apiKey] as const,
    );
    expect(out).toEqual({ url: `${m.t.url}/logging/ClientEvent`, status: 200 });
    await m.t.server.inspector.flush();
    const events = (await m.t.server.inspector.events(sessionId, { types: ['clientEvent'] })).items;
    expect(events).toEqual([expect.objectContaining({ connectionId, details: expect.objectContaining({ action: 'PrecallTest', variation: 'Success' }) })]);
  });
});

describe('media processor connectors', () => {
  it('a video connector\'s red frames are what the subscriber decodes; clearing it brings the camera back and destroys the connector; an audio connector that silences is heard as silence', async () => {
    const { a, b, streamId } = await pair('routed');
    expect(await a.page.evaluate(() => (window as any).OT.hasMediaProcessorSupport())).toBe(true);
    await expectDecoding(b, [streamId]);
    const red = (c: { r: number; g: number; b: number }) => c.r > 180 && c.g < 70 && c.b < 70;
    const colour = async () => (await b.page.evaluate((id) => (window as any).meanColour(id), streamId)) as { r: number; g: number; b: number };
    expect(red(await colour())).toBe(false);

    await a.page.evaluate(() => (window as any).publisher.setVideoMediaProcessorConnector((window as any).redConnector()));
    await expect.poll(colour, { timeout: 15_000 }).toSatisfy(red);
    await expectDecoding(b, [streamId]);

    await a.page.evaluate(() => (window as any).publisher.setVideoMediaProcessorConnector(null));
    await waitForLog(a, (l) => l.some((e) => e.type === 'connectorDestroyed' && e['kind'] === 'video'), 'video connector destroyed');
    await expect.poll(colour, { timeout: 15_000 }).toSatisfy((c: { r: number; g: number; b: number }) => !red(c));
    // The camera under the processor was never stopped: it is what is sent again.
    expect(await a.page.evaluate(() => (window as any).publisher.getVideoSource().track.readyState)).toBe('live');

    expect(await b.page.evaluate((id) => (window as any).maxLevel(id), streamId)).toBeGreaterThan(0.01);
    await a.page.evaluate(() => (window as any).publisher.setAudioMediaProcessorConnector((window as any).muteConnector()));
    await expect.poll(async () => (await b.page.evaluate((id) => (window as any).maxLevel(id), streamId)) as number, { timeout: 15_000 }).toBeLessThan(0.003);
    await a.page.evaluate(() => (window as any).publisher.setAudioMediaProcessorConnector(null));
    await waitForLog(a, (l) => l.some((e) => e.type === 'connectorDestroyed' && e['kind'] === 'audio'), 'audio connector destroyed');
    await expect.poll(async () => (await b.page.evaluate((id) => (window as any).maxLevel(id), streamId)) as number, { timeout: 15_000 }).toBeGreaterThan(0.01);

    // Not a connector, or not a filter: refused with OT_INVALID_PARAMETER (filters themselves: video-filter.test.ts).
    const refused = await a.page.evaluate(async () => {
      const w = window as any;
      const bad = await w.publisher.setVideoMediaProcessorConnector({}).then(() => 'ok', (e: { name: string }) => e.name);
      const blur = await w.publisher.applyVideoFilter({ type: 'backgroundBlur', blurStrength: 'medium' }).then(() => 'ok', (e: { name: string }) => e.name);
      return { bad, blur };
    });
    expect(refused).toEqual({ bad: 'OT_INVALID_PARAMETER', blur: 'OT_INVALID_PARAMETER' });
  });
});
