// The transport feedback we write towards publishers, without a network: arrivals are fed to the
// writer, its messages are parsed back by werift's RTCP parser and read by the same code our
// subscriber-side estimate uses (transport-feedback.ts, with the send history of a
// TransportWideSequencer numbering the same packets). Checked: the RTCP header and padding, base
// sequence, status count, reference time, deltas (small, large, negative), lost packets in
// run-length and status-vector chunks, sequence wraparound, splitting, late and duplicate packets.

import { RtcpPacketConverter, RtcpTransportLayerFeedback, TransportWideCC } from 'werift';
import { describe, expect, it } from 'vitest';
import { encodeStatusChunks, serializeTransportFeedback, TransportFeedbackWriter } from '../src/transport-feedback-writer.js';
import { expandStatuses, TransportWideSequencer } from '../src/transport-feedback.js';

/** Parses one serialized message with werift, checking the RTCP framing on the way. */
function parse(bytes: Buffer): TransportWideCC {
  expect(bytes.length % 4).toBe(0);
  expect(bytes.readUInt16BE(2)).toBe(bytes.length / 4 - 1);
  expect(bytes[0]! >> 6).toBe(2); // version
  expect(bytes[0]! & 0x1f).toBe(15); // FMT transport-cc
  expect(bytes[1]).toBe(205); // RTPFB
  if (bytes[0]! & 0x20) expect(bytes[bytes.length - 1]).toBe(bytes.length - unpaddedLength(bytes));
  const packets = RtcpPacketConverter.deSerialize(bytes);
  expect(packets).toHaveLength(1);
  const packet = packets[0] as RtcpTransportLayerFeedback;
  expect(packet).toBeInstanceOf(RtcpTransportLayerFeedback);
  expect(packet.feedback).toBeInstanceOf(TransportWideCC);
  return packet.feedback as TransportWideCC;
}

/** The length without padding, from the content: header, chunks, deltas. */
function unpaddedLength(bytes: Buffer): number {
  const fb = TransportWideCC.deSerialize(bytes.subarray(4), undefined as never);
  const deltaBytes = expandStatuses(fb).reduce((n, s) => n + (s === 1 ? 1 : s === 2 ? 2 : 0), 0);
  return 20 + fb.packetChunks.length * 2 + deltaBytes;
}

/** A sender history numbering `count` packets from sequence number 1 (what a publisher's browser keeps). */
function sender(count: number): TransportWideSequencer {
  const s = new TransportWideSequencer();
  for (let i = 0; i < count; i++) s.next(1200, i);
  return s;
}

/** Arrival ms as the feedback carries them: whole 250 µs ticks. */
const ticks = (ms: number): number => Math.round(ms * 4) / 4;

describe('transport feedback we send', () => {
  it('reports every packet of a run with its arrival time, in one message', () => {
    const writer = new TransportFeedbackWriter(0x1234);
    const arrivals = new Map<number, number>();
    for (let seq = 1; seq <= 40; seq++) {
      const at = 10_000 + seq * 3.3; // 3.3 ms apart: small deltas
      arrivals.set(seq, at);
      writer.onPacket(seq, at, 0xabcd);
    }
    const messages = writer.takeFeedback();
    expect(messages).toHaveLength(1);
    const fb = parse(messages[0]!);
    expect(fb.senderSsrc).toBe(0x1234);
    expect(fb.mediaSourceSsrc).toBe(0xabcd);
    expect(fb.baseSequenceNumber).toBe(1);
    expect(fb.packetStatusCount).toBe(40);
    expect(fb.referenceTime).toBe(Math.floor((10_000 + 3.3) / 64));
    expect(fb.fbPktCount).toBe(0);
    expect(expandStatuses(fb)).toEqual(new Array(40).fill(1));
    const results = sender(40).results(fb);
    expect(results).toHaveLength(40);
    results.forEach((r, i) => expect(r.receivedAt).toBeCloseTo(ticks(arrivals.get(i + 1)!), 6));
    // Nothing new: nothing to send.
    expect(writer.takeFeedback()).toEqual([]);
  });

  it('marks lost packets (run-length and status-vector chunks) and carries large and negative deltas', () => {
    const writer = new TransportFeedbackWriter(1);
    const arrivals = new Map<number, number>();
    const arrive = (seq: number, at: number): void => {
      arrivals.set(seq, at);
      writer.onPacket(seq, at, 7);
    };
    arrive(1, 500);
    arrive(2, 501);
    // 3..12 lost (a run), then every other one lost (a status vector).
    arrive(13, 520);
    arrive(15, 522);
    arrive(17, 524);
    arrive(18, 700); // 176 ms later: a large delta
    arrive(20, 699.5); // before 18's arrival: a negative (large) delta
    arrive(19, 705); // reordered: 19 arrives after 20
    const fb = parse(writer.takeFeedback()[0]!);
    expect(fb.baseSequenceNumber).toBe(1);
    expect(fb.packetStatusCount).toBe(20);
    const statuses = expandStatuses(fb);
    expect(statuses).toEqual([1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0, 1, 2, 1, 2]);
    const results = sender(20).results(fb);
    for (const r of results) {
      const seq = r.sentAt + 1; // sender() sent packet n at n - 1 ms
      const at = arrivals.get(seq);
      if (at === undefined) expect(r.receivedAt).toBeNull();
      else expect(r.receivedAt).toBeCloseTo(ticks(at), 6);
    }
    expect(results.filter((r) => r.receivedAt === null)).toHaveLength(12);
  });

  it('follows the sequence numbers across the 16-bit wrap', () => {
    const writer = new TransportFeedbackWriter(1);
    const seqs = [65533, 65534, 65535, 0, 2, 3]; // 1 lost, after the wrap
    seqs.forEach((seq, i) => writer.onPacket(seq, 2000 + i * 5, 9));
    const fb = parse(writer.takeFeedback()[0]!);
    expect(fb.baseSequenceNumber).toBe(65533);
    expect(fb.packetStatusCount).toBe(7);
    expect(expandStatuses(fb)).toEqual([1, 1, 1, 1, 0, 1, 1]);
    // Our sender-side history, numbered through the wrap, reads the same packets back.
    const history = new TransportWideSequencer();
    const sentAt = new Map<number, number>();
    for (let i = 1; i <= 65539; i++) sentAt.set(history.next(1000, i), i);
    const results = history.results(fb);
    expect(results.map((r) => r.receivedAt)).toEqual([2000, 2005, 2010, 2015, null, 2020, 2025]);
    expect(results.map((r) => r.sentAt)).toEqual([65533, 65534, 65535, 65536, 65537, 65538, 65539]);
  });

  it('continues where the last message ended; late and duplicate packets are not reported twice', () => {
    const writer = new TransportFeedbackWriter(1);
    for (let seq = 100; seq < 110; seq++) if (seq !== 105) writer.onPacket(seq, seq, 1);
    const first = parse(writer.takeFeedback()[0]!);
    expect([first.baseSequenceNumber, first.packetStatusCount, first.fbPktCount]).toEqual([100, 10, 0]);
    expect(expandStatuses(first)[5]).toBe(0);
    writer.onPacket(105, 200, 1); // late: already reported lost
    writer.onPacket(109, 201, 1); // duplicate of a reported one
    expect(writer.takeFeedback()).toEqual([]);
    expect(writer.packetsLate).toBe(2); // both came after their number was reported
    for (let seq = 110; seq < 115; seq++) writer.onPacket(seq, 300 + seq, 1);
    const second = parse(writer.takeFeedback()[0]!);
    expect([second.baseSequenceNumber, second.packetStatusCount, second.fbPktCount]).toEqual([110, 5, 1]);
  });

  it('splits a long run into messages that fit a datagram, with the feedback count rising', () => {
    const writer = new TransportFeedbackWriter(1);
    // 2000 packets with large deltas (300 ms apart would not fit one byte): 2 bytes each.
    for (let seq = 1; seq <= 2000; seq++) writer.onPacket(seq, seq * 70, 1);
    const messages = writer.takeFeedback();
    expect(messages.length).toBeGreaterThan(3);
    let next = 1;
    messages.forEach((bytes, i) => {
      expect(bytes.length).toBeLessThanOrEqual(1200);
      const fb = parse(bytes);
      expect(fb.baseSequenceNumber).toBe(next);
      expect(fb.fbPktCount).toBe(i);
      // The first delta is from the reference time (under 64 ms: small), the others 70 ms: large.
      expect(expandStatuses(fb).slice(1).every((s) => s === 2)).toBe(true);
      const results = sender(2000).results(fb);
      results.forEach((r, k) => expect(r.receivedAt).toBe((next + k) * 70));
      next += fb.packetStatusCount;
    });
    expect(next).toBe(2001);
  });

  it('starts a new message when a delta does not fit 16 bits', () => {
    const writer = new TransportFeedbackWriter(1);
    writer.onPacket(1, 1000, 1);
    writer.onPacket(2, 1000 + 9000, 1); // 9 s later: 36,000 ticks
    const messages = writer.takeFeedback();
    expect(messages).toHaveLength(2);
    const [a, b] = messages.map(parse);
    expect([a!.baseSequenceNumber, a!.packetStatusCount, b!.baseSequenceNumber, b!.packetStatusCount]).toEqual([1, 1, 2, 1]);
    expect(sender(2).results(b!)[0]!.receivedAt).toBe(10_000);
  });

  it('reports a long gap before the first arrival as one run', () => {
    const writer = new TransportFeedbackWriter(1);
    writer.onPacket(1, 10, 1);
    expect(writer.takeFeedback()).toHaveLength(1);
    writer.onPacket(1001, 20, 1); // 999 lost in between
    const fb = parse(writer.takeFeedback()[0]!);
    expect(fb.baseSequenceNumber).toBe(2);
    expect(fb.packetStatusCount).toBe(1000);
    const statuses = expandStatuses(fb);
    expect(statuses.slice(0, 999).every((s) => s === 0)).toBe(true);
    expect(statuses[999]).toBe(1);
  });

  it('encodes status chunks: runs, one-bit and two-bit vectors', () => {
    // Run-length: T=0, status in 2 bits, 13-bit length.
    expect(encodeStatusChunks(new Array(20).fill(1))).toEqual([(1 << 13) | 20]);
    // 14 one-bit symbols (received / not received).
    const mixed = [1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1, 1, 0];
    const [oneBit] = encodeStatusChunks(mixed);
    expect(oneBit! >> 14).toBe(0b10);
    mixed.forEach((s, k) => expect((oneBit! >> (13 - k)) & 1).toBe(s));
    // A large delta needs two-bit symbols; the last chunk pads with "not received".
    const withLarge = [1, 2, 0, 1, 2];
    const [twoBit] = encodeStatusChunks(withLarge);
    expect(twoBit! >> 14).toBe(0b11);
    withLarge.forEach((s, k) => expect((twoBit! >> (12 - 2 * k)) & 3).toBe(s));
    expect(twoBit! & 0b11).toBe(0);
    expect(() => serializeTransportFeedback({ senderSsrc: 1, mediaSsrc: 1, baseSequence: 0, referenceTime: 0, feedbackCount: 0, statuses: [1], deltas: [] })).toThrow(RangeError);
    expect(() => serializeTransportFeedback({ senderSsrc: 1, mediaSsrc: 1, baseSequence: 0, referenceTime: 0, feedbackCount: 0, statuses: [1], deltas: [300] })).toThrow(RangeError);
  });

  it('ignores sequence numbers and times that are not numbers of the right range', () => {
    const writer = new TransportFeedbackWriter(1);
    writer.onPacket(-1, 10, 1);
    writer.onPacket(70_000, 10, 1);
    writer.onPacket(5, Number.NaN, 1);
    expect(writer.takeFeedback()).toEqual([]);
    expect(writer.packetsSeen).toBe(0);
  });
});
