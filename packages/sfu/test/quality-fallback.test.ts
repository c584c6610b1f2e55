// A consumer whose video the downlink allocator switches off for quality (OpenTok's audio
// fallback), on the packet path without a network: the warning always comes before the video goes
// off; while it is off, NACKs get no retransmission (its lost packets are of no use, and they
// would take the little the link carries from the audio); retransmissions held while the link is
// saturated (but not after a probe filled a link the media fits); answered again once it is back on.

import { GenericNack, ReceiverEstimatedMaxBitrate, RtcpPayloadSpecificFeedback, RtcpTransportLayerFeedback, RtpHeader, RtpPacket } from 'werift';
import { describe, expect, it, vi } from 'vitest';
import type { OutgoingHeader } from '../src/consumer.js';
import { Downlink, keyFrameDrainMs, RETRANSMIT_HOLD_MS, RETRANSMIT_ROOM, retransmitHoldMs } from '../src/downlink.js';
import { TransportWideSequencer } from '../src/transport-feedback.js';
import { testConsumer, testVideoProducer, vp8Payload, viewOf } from './helpers.js';

/** Runs `test` with performance.now() (and, with `timers`, setTimeout) under vitest's fake clock (vi.advanceTimersByTime moves it). */
function withFakePerformance(test: () => void, timers = false): void {
  vi.useFakeTimers({ toFake: timers ? ['performance', 'setTimeout'] : ['performance'] });
  try {
    test();
  } finally {
    vi.useRealTimers();
  }
}

function setup(plis?: number[]) {
  const producer = testVideoProducer({ id: 'p', ssrc: 0x5555, ...(plis ? { plis } : {}) });
  const sent: number[] = [];
  const events: string[] = [];
  const c = testConsumer({ id: 'c', producer, ssrc: 9 });
  c.audioFallback = true;
  c.setNegotiated({ payloadType: 96, mid: '1', extensionIds: new Map() });
  c.connect({ sendRtp: (_p: Buffer, h: OutgoingHeader) => sent.push(h.sequenceNumber) });
  c.on('qualityWarning', (w) => events.push(w ? 'warning' : 'warningLifted'));
  c.on('qualityDisabled', (off) => events.push(off ? 'disabled' : 'enabled'));
  let seq = 1;
  const frame = (keyFrame = false) => producer.receive(viewOf(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: seq++, timestamp: seq * 3000, ssrc: 0x5555, marker: true }), vp8Payload(keyFrame))));
  const nack = (lost: number[]) => c.handleRtcp(new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: 9, lost }) }));
  /** The output restarts at a keyframe, as a step down to another layer does. */
  const restart = () => {
    c.setBandwidthLayer(-1);
    c.setBandwidthLayer(0);
    frame(true);
  };
  return { c, sent, events, frame, nack, restart };
}

describe('video off for quality', () => {
  it('a NACK is answered while the video flows, not while it is off, and again once it is back', () => {
    const { c, sent, frame, nack } = setup();
    frame(true);
    frame();
    frame();
    expect(sent).toHaveLength(3);
    const [first, second] = sent;
    nack([second!]);
    expect(sent).toHaveLength(4);
    expect(sent[3]).toBe(second);
    expect(c.getStats()).toMatchObject({ nackCount: 1, retransmittedPackets: 1 });

    c.setBandwidthLayer(-1);
    expect(c.qualityDisabled).toBe(true);
    nack([first!, second!]);
    frame();
    expect(sent).toHaveLength(4); // no retransmission, and no video
    expect(c.nacksHeld).toBe(1);

    c.setBandwidthLayer(0);
    frame(true); // back on at a keyframe
    const before = sent.length;
    nack([sent[sent.length - 1]!]);
    expect(sent.length).toBe(before + 1);
  });

  it('a packet asked for again within a round trip is resent once, again after it, and not once older than 1 s', () => {
    withFakePerformance(() => {
      const { c, sent, frame, nack } = setup();
      frame(true);
      frame();
      const lost = sent[1]!;
      nack([lost]);
      nack([lost]); // the browser asks again before our answer can have arrived (no RTT measured: 40 ms)
      expect(sent).toHaveLength(3);
      vi.advanceTimersByTime(50);
      nack([lost]);
      expect(sent).toHaveLength(4);
      expect(c.getStats()).toMatchObject({ nackCount: 3, retransmittedPackets: 2, resendsSkipped: 1 });
      vi.advanceTimersByTime(1000);
      nack([lost]);
      expect(sent).toHaveLength(4);
      expect(c.getStats().resendsSkipped).toBe(2);
    });
  });

  it('retransmissions held while the link is saturated (audio first), answered after', () => {
    withFakePerformance(() => {
      const { c, sent, frame, nack } = setup();
      frame(true);
      frame();
      vi.advanceTimersByTime(2500); // the keyframe is older than the 2 s a new layer is repaired for
      c.holdRetransmissions(performance.now() + 60_000);
      nack([sent[1]!]);
      expect(sent).toHaveLength(2);
      expect(c.nacksHeld).toBe(1);
    });
    const d = setup();
    d.frame(true);
    d.c.holdRetransmissions(performance.now() - 1);
    d.nack([d.sent[0]!]);
    expect(d.sent).toHaveLength(2);
  });

  it('while held, the layer begun at a keyframe in the last 2 s is still repaired (the stepped-down layer must not freeze), older packets are not', () => {
    withFakePerformance(() => {
      const { c, sent, frame, nack, restart } = setup();
      frame(true);
      frame();
      const old = sent[1]!;
      vi.advanceTimersByTime(5000);
      restart(); // then the hold begins
      frame();
      const [key, next] = sent.slice(-2);
      vi.advanceTimersByTime(300);
      c.holdRetransmissions(performance.now() + 60_000);
      nack([old, key!, next!]);
      expect(sent.slice(-2)).toEqual([key, next]); // resent: the keyframe and the frame after it, not the old one
      expect(sent).toHaveLength(6);
      expect(c.nacksHeld).toBe(1); // the old packet's NACK counts as held
      expect(c.getStats().retransmittedPackets).toBe(2);
      nack([old]);
      expect(sent).toHaveLength(6);
      expect(c.nacksHeld).toBe(2);
      // 2 s after that keyframe, its layer is no longer new: held like the rest.
      vi.advanceTimersByTime(1800);
      nack([next!]);
      expect(sent).toHaveLength(6);
      expect(c.nacksHeld).toBe(3);
    });
  });

  it('while held, a packet of the layer just stepped to is resent once in all (its resend may be lost in the full queue too), again after the hold', () => {
    withFakePerformance(() => {
      const { c, sent, frame, nack, restart } = setup();
      frame(true);
      frame();
      vi.advanceTimersByTime(5000);
      restart(); // the layer just stepped to begins
      frame();
      const next = sent[sent.length - 1]!;
      c.holdRetransmissions(performance.now() + 600);
      nack([next]);
      expect(sent.slice(-2)).toEqual([next, next]); // resent
      vi.advanceTimersByTime(250); // several round trips later, still within the hold
      nack([next]);
      vi.advanceTimersByTime(250);
      nack([next]);
      expect(sent.filter((s) => s === next)).toHaveLength(2);
      vi.advanceTimersByTime(150); // the hold is over: once per round trip again
      nack([next]);
      expect(sent.filter((s) => s === next)).toHaveLength(3);
      expect(c.getStats()).toMatchObject({ retransmittedPackets: 2, resendsSkipped: 2 });
    });
  });

  it('a packet of the forwarded layer that cannot be repaired asks the publisher for a keyframe: at the hold\'s end when held, at once when too old; one at a time, and none for what came before the last keyframe', () => {
    withFakePerformance(() => {
      const plis: number[] = [];
      const { c, sent, frame, nack } = setup(plis);
      frame(true);
      frame();
      frame();
      vi.advanceTimersByTime(2500); // past the 2 s a new layer is repaired for through a hold
      const start = plis.length;
      c.holdRetransmissions(performance.now() + 1000);
      nack([sent[1]!]);
      expect(c.nacksHeld).toBe(1);
      expect(plis).toHaveLength(start); // not into the saturated link
      vi.advanceTimersByTime(999);
      expect(plis).toHaveLength(start);
      vi.advanceTimersByTime(1);
      expect(plis).toEqual([...plis.slice(0, start), 0x5555]); // the hold's end: the layer's keyframe
      expect(c.getStats().repairKeyFrames).toBe(1);
      // Another one gone (sent over 1 s ago) while that keyframe has not come: nothing more asked.
      vi.advanceTimersByTime(600);
      nack([sent[2]!]);
      vi.advanceTimersByTime(600);
      expect(plis).toHaveLength(start + 1);
      expect(c.getStats()).toMatchObject({ repairKeyFrames: 1, resendsSkipped: 1 });
      // The keyframe comes; a packet from before it, gone, asks for nothing (the picture restarted from it).
      frame(true);
      const afterKey = sent[sent.length - 1]!;
      frame();
      const later = sent[sent.length - 1]!;
      nack([sent[2]!]);
      vi.advanceTimersByTime(600);
      expect(plis).toHaveLength(start + 1);
      // A packet that can still be resent asks for nothing.
      nack([later]);
      expect(plis).toHaveLength(start + 1);
      // One after it, gone: at once (after the publisher's 500 ms throttle).
      vi.advanceTimersByTime(1100);
      nack([later]);
      expect(plis).toHaveLength(start + 2);
      expect(c.getStats()).toMatchObject({ repairKeyFrames: 2 });
      // And none again until that one comes, or for REPAIR_KEYFRAME_PENDING_MS (1.5 s): then once more.
      nack([afterKey]);
      vi.advanceTimersByTime(600);
      expect(plis).toHaveLength(start + 2);
      vi.advanceTimersByTime(1000);
      nack([afterKey]);
      vi.advanceTimersByTime(600);
      expect(plis).toHaveLength(start + 3);
    }, true);
  });

  it("a client's streams ask for their repair keyframes one after another, each once the keyframes before it went through its link", () => {
    withFakePerformance(() => {
      const plis: number[] = [];
      const downlink = new Downlink();
      // Two streams on one subscriber connection whose browser reports a 400 kbps downlink (REMB).
      const streams = [0x1111, 0x2222].map((ssrc, i) => {
        const producer = testVideoProducer({ id: `p${i}`, ssrc, plis });
        const c = testConsumer({ id: `c${i}`, producer, ssrc: 10 + i });
        c.setNegotiated({ payloadType: 96, mid: String(i), extensionIds: new Map() });
        c.setKeyFrameGate(downlink);
        const sent: number[] = [];
        c.connect({ sendRtp: (_p: Buffer, h: OutgoingHeader) => sent.push(h.sequenceNumber) });
        let seq = 1;
        const frame = (keyFrame = false) =>
          producer.receive(viewOf(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: seq++, timestamp: seq * 3000, ssrc, marker: true }), keyFrame ? Buffer.concat([vp8Payload(true), Buffer.alloc(10_000)]) : vp8Payload(false))));
        const nack = (lost: number[]) => c.handleRtcp(new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: 1, mediaSourceSsrc: 10 + i, lost }) }));
        return { producer, c, sent, frame, nack };
      });
      downlink.join({ consumers: streams.map((s) => s.c), connected: true, sequencer: new TransportWideSequencer(), feedback: 'remb-only' });
      streams[0]!.c.handleRtcp(new RtcpPayloadSpecificFeedback({ feedback: new ReceiverEstimatedMaxBitrate({ bitrate: 400_000n, ssrcFeedbacks: [10] }) }));
      for (const s of streams) {
        s.frame(true);
        s.frame();
        s.frame();
      }
      expect(streams[0]!.producer.keyFrameBytes(0)).toBe(10_012);
      const drain = keyFrameDrainMs(10_012, 400_000);
      expect(drain).toBeGreaterThan(200); // 10 kB and its packets' overhead at 400 kbps
      vi.advanceTimersByTime(2500);
      const start = plis.length;
      // The link saturated: both streams' repairs held; both lose a packet that goes unrepaired.
      for (const s of streams) s.c.holdRetransmissions(performance.now() + 1000);
      for (const s of streams) s.nack([s.sent[1]!]);
      vi.advanceTimersByTime(1000);
      // The hold's end: the first asks for its keyframe; the second waits for that one to pass.
      expect(plis.slice(start)).toEqual([0x1111]);
      vi.advanceTimersByTime(Math.ceil(drain) - 1);
      expect(plis.slice(start)).toEqual([0x1111]);
      vi.advanceTimersByTime(1);
      expect(plis.slice(start)).toEqual([0x1111, 0x2222]);
      expect(downlink.stats.repairKeyFrames).toEqual({ asked: 2, deferred: 1 });
      // Keyframes forwarded (both answers, at once) keep the link busy for their time, one after the other.
      vi.advanceTimersByTime(1000);
      for (const s of streams) s.frame(true);
      expect(downlink.reserveKeyFrame(10_012, performance.now(), 'repair')).toBe(Math.ceil(2 * drain));
      expect(downlink.stats.repairKeyFrames).toEqual({ asked: 2, deferred: 2 });
    }, true);
  });

  it("a limit's onset steps a client's streams down at once: their switch keyframes are asked one after another, each once the keyframes before it went through its link", () => {
    withFakePerformance(() => {
      const plis: number[] = [];
      const downlink = new Downlink();
      // Three simulcast streams on one subscriber connection (q/h/f; SSRC 0x1000 × layer + stream).
      const streams = [0, 1, 2].map((i) => {
        const producer = testVideoProducer({ id: `p${i}`, rids: ['q', 'h', 'f'], plis });
        const c = testConsumer({ id: `c${i}`, producer, ssrc: 10 + i });
        c.setNegotiated({ payloadType: 96, mid: String(i), extensionIds: new Map() });
        c.setKeyFrameGate(downlink);
        c.connect({ sendRtp: () => undefined });
        const seqs = [100, 20_000, 40_000];
        let ts = 0;
        /** A frame on every layer; keyframes where asked, the lowest layer's 10 kB. */
        const frame = (keyFrames: boolean[] = [false, false, false]) => {
          ts += 3000;
          for (let layer = 0; layer < 3; layer++) {
            const key = keyFrames[layer]!;
            const payload = key && layer === 0 ? Buffer.concat([vp8Payload(true, 320, 180), Buffer.alloc(10_000)]) : vp8Payload(key, 320 << layer, 180 << layer);
            producer.receive(viewOf(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: seqs[layer]!++, timestamp: ts, ssrc: 0x1000 * (layer + 1) + i, marker: true }), payload)), layer);
          }
        };
        return { producer, c, frame };
      });
      downlink.join({ consumers: streams.map((s) => s.c), connected: true, sequencer: new TransportWideSequencer(), feedback: 'remb-only' });
      streams[0]!.c.handleRtcp(new RtcpPayloadSpecificFeedback({ feedback: new ReceiverEstimatedMaxBitrate({ bitrate: 400_000n, ssrcFeedbacks: [10] }) }));
      // Every stream forwards its top layer; the lowest layer's keyframe size is known.
      for (const s of streams) {
        s.c.setBandwidthLayer(2);
        s.frame([true, true, true]);
        s.frame();
        expect(s.c.currentLayer).toBe(2);
        expect(s.producer.keyFrameBytes(0)).toBeGreaterThan(10_000);
      }
      const drain = keyFrameDrainMs(streams[0]!.producer.keyFrameBytes(0), 400_000);
      expect(drain).toBeGreaterThan(200);
      vi.advanceTimersByTime(2000);
      plis.length = 0;
      // The allocator's round after a saturation cut: every stream down to its lowest layer.
      for (const s of streams) s.c.setBandwidthLayer(0);
      expect(plis).toEqual([0x1000]);
      // The first one's keyframe comes 50 ms later: the link carries it from then (its
      // reservation was that keyframe, not one more): the second asks a keyframe's drain later.
      vi.advanceTimersByTime(50);
      streams[0]!.frame([true, false, false]);
      expect(streams[0]!.c.currentLayer).toBe(0);
      vi.advanceTimersByTime(Math.ceil(drain) - 1);
      expect(plis).toEqual([0x1000]);
      vi.advanceTimersByTime(1);
      expect(plis).toEqual([0x1000, 0x1001]);
      vi.advanceTimersByTime(Math.ceil(drain));
      expect(plis).toEqual([0x1000, 0x1001, 0x1002]);
      expect(downlink.stats.switchKeyFrames.asked).toBe(3);
      expect(downlink.stats.switchKeyFrames.deferred).toBeGreaterThanOrEqual(2); // each wait counts (one may wait twice)
      // Each switches on its keyframe.
      for (const s of streams.slice(1)) s.frame([true, false, false]);
      for (const s of streams) expect(s.c.currentLayer).toBe(0);
      // A start (nothing forwarded yet) asks at once, whatever the link carries.
      const late = testConsumer({ id: 'late', producer: streams[2]!.producer, ssrc: 20 });
      late.setNegotiated({ payloadType: 96, mid: '3', extensionIds: new Map() });
      late.setKeyFrameGate(downlink);
      plis.length = 0;
      late.connect({ sendRtp: () => undefined });
      expect(plis.length).toBeGreaterThan(0);
    }, true);
  });

  it('no keyframe for unrepaired packets when one comes anyway (the video off) or the packet was of the layer before', () => {
    withFakePerformance(() => {
      const plis: number[] = [];
      const { c, sent, frame, nack, restart } = setup(plis);
      frame(true);
      frame();
      const before = sent[1]!;
      vi.advanceTimersByTime(2500);
      restart(); // the old packets are not of the output now

      vi.advanceTimersByTime(1500);
      const start = plis.length;
      nack([before]);
      vi.advanceTimersByTime(600);
      expect(plis).toHaveLength(start);
      // Held, and the video goes off before the hold ends: it restarts from a keyframe anyway.
      frame();
      c.holdRetransmissions(performance.now() + 1000);
      vi.advanceTimersByTime(1100); // past the 2 s a new layer is repaired for
      c.holdRetransmissions(performance.now() + 1000);
      nack([sent[sent.length - 1]!]);
      c.setBandwidthLayer(-1);
      vi.advanceTimersByTime(1000);
      expect(plis).toHaveLength(start);
      expect(c.getStats().repairKeyFrames).toBe(0);
    }, true);
  });

  it('videoDisableWarning always before videoDisabled, even when the allocator switches off at once', () => {
    const { c, events, frame } = setup();
    frame(true);
    c.setBandwidthLayer(-1);
    expect(events).toEqual(['warning', 'disabled']);
    expect(c.qualityWarning).toBe(true);
    c.setBandwidthLayer(0);
    c.setQualityWarning(false);
    expect(events).toEqual(['warning', 'disabled', 'enabled', 'warningLifted']);
  });

  it('a saturation cut holds retransmissions for a second, but not when a probe in flight filled a link the media alone fits with room', () => {
    expect(RETRANSMIT_HOLD_MS).toBeGreaterThan(0);
    // No probe: the media filled the link.
    expect(retransmitHoldMs(5_000, null, 380_000, 190_000)).toBe(RETRANSMIT_HOLD_MS);
    // A probe begun at 4.8 s, cut at 5 s to 380 kbps, 190 kbps of media: its padding stops, the media fits.
    expect(retransmitHoldMs(5_000, 4_800, 380_000, 190_000)).toBe(0);
    // The same probe, but the cut left too little room (the limit fell under the media meanwhile).
    expect(retransmitHoldMs(5_000, 4_800, 85_000, 190_000)).toBe(RETRANSMIT_HOLD_MS);
    expect(retransmitHoldMs(5_000, 4_800, RETRANSMIT_ROOM * 190_000 - 1, 190_000)).toBe(RETRANSMIT_HOLD_MS);
    // A probe begun after the cut did not cause it.
    expect(retransmitHoldMs(5_000, 5_100, 380_000, 190_000)).toBe(RETRANSMIT_HOLD_MS);
  });
});
