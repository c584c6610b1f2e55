// The load tool's measuring pieces on their own: the frame trailer, per-stream accounting (loss,
// wraps, jitter, whole frames, first frame; a browser's stream without trailer: VP8 frame starts),
// the transport-wide sequence number read from a clear header, CPU profile summaries, a process's
// CPU from /proc, the plot and CLI validation.

import { describe, expect, it } from 'vitest';
import { sampleProcess } from '../dist/lib/proc.js';
import { appendMarker, machineMs, MARKER_BYTES, readMarker } from '../dist/load/frame-marker.js';
import { StreamStats } from '../dist/load/stream-stats.js';
import { readVp8FrameStart } from '../dist/load/vp8-frame-start.js';
import { readHeaderExtensionUint16 } from '../dist/load/light-receive.js';
import { transportCcId } from '../dist/load/peer.js';
import { summarizeProfile, type CpuProfile } from '../dist/lib/cpu-profile.js';
import { lineChartSvg } from '../dist/report/plot.js';
import { parseBitrate, parseCli } from '../dist/load/cli.js';
import { percentile } from '../dist/lib/stats.js';

describe('frame trailer', () => {
  it('round-trips and is found only at the end of a payload', () => {
    const payload = Buffer.from([0x10, 1, 2, 3]);
    const marked = appendMarker(payload, { frame: 77, sentAtMs: 1234.5, packets: 3, keyFrame: true });
    expect(marked.length).toBe(payload.length + MARKER_BYTES);
    expect(marked.subarray(0, 4)).toEqual(payload);
    expect(readMarker(marked)).toEqual({ frame: 77, sentAtMs: 1234.5, packets: 3, keyFrame: true });
    expect(readMarker(payload)).toBeNull();
    expect(readMarker(Buffer.alloc(40))).toBeNull();
  });
});

describe('StreamStats', () => {
  const marker = (packets: number, keyFrame = false) => ({ frame: 0, sentAtMs: machineMs() - 5, packets, keyFrame });

  it('counts loss from sequence gaps across a 16-bit wrap', () => {
    const s = new StreamStats('audio', 48000);
    let seq = 65530;
    for (let i = 0; i < 20; i++) {
      if (i !== 8) s.onPacket(seq & 0xffff, i * 960, 100, i * 20);
      seq++;
    }
    expect(s.packets).toBe(19);
    expect(s.expected).toBe(20);
    expect(s.rolloverCount).toBe(1);
  });

  it('counts whole frames only, from the first keyframe, and the time of the first', () => {
    const s = new StreamStats('video', 90000);
    // A delta frame whose start we missed (runs in from seq 10): not whole.
    s.onPacket(10, 0, 1000, 0);
    s.onFrameEnd(marker(3), 0);
    // A keyframe of three packets, all there.
    s.onPacket(11, 3000, 1000, 33);
    s.onPacket(12, 3000, 1000, 34);
    s.onPacket(13, 3000, 1000, 35);
    s.onFrameEnd(marker(3, true), 35);
    // A delta frame of two packets with its first lost.
    s.onPacket(15, 6000, 1000, 70);
    s.onFrameEnd(marker(2), 70);
    // A whole one.
    s.onPacket(16, 9000, 1000, 100);
    s.onFrameEnd(marker(1), 100);
    expect(s.frames).toBe(2);
    expect(s.keyFrames).toBe(1);
    expect(s.firstFrameAt).toBe(35);
    expect(s.expected - s.packets).toBe(1);
    expect(s.takeLatencies()).toHaveLength(2);
    expect(s.takeLatencies()).toHaveLength(0);
  });

  it('jitter is zero for perfectly paced packets and grows with irregular arrival', () => {
    const even = new StreamStats('audio', 48000);
    const uneven = new StreamStats('audio', 48000);
    for (let i = 0; i < 100; i++) {
      even.onPacket(i, i * 960, 100, i * 20);
      uneven.onPacket(i, i * 960, 100, i * 20 + (i % 2 ? 8 : 0));
    }
    expect(even.jitterMs).toBeCloseTo(0, 6);
    expect(uneven.jitterMs).toBeGreaterThan(5);
  });
});

/** A VP8 frame's first payload (X with a 15-bit picture id, S, partition 0): a keyframe of `width`x`height`, or a delta frame. */
function vp8Start(keyFrame: boolean, width = 0, height = 0): Buffer {
  const descriptor = [0x90, 0x80, 0x80, 0x01];
  if (!keyFrame) return Buffer.from([...descriptor, 0x01, 0x00, 0x00, 0xaa]);
  return Buffer.from([...descriptor, 0x50, 0x2a, 0x00, 0x9d, 0x01, 0x2a, width & 0xff, width >> 8, height & 0xff, height >> 8, 0xaa]);
}

describe("a browser's stream (no trailer)", () => {
  it('reads keyframes and their width from a VP8 frame start, nothing from other packets', () => {
    expect(readVp8FrameStart(vp8Start(true, 1280, 720))).toEqual({ keyFrame: true, width: 1280 });
    expect(readVp8FrameStart(vp8Start(false))).toEqual({ keyFrame: false, width: 0 });
    // Without X: the frame tag follows the first byte.
    expect(readVp8FrameStart(Buffer.from([0x10, 0x50, 0x2a, 0x00, 0x9d, 0x01, 0x2a, 0x40, 0x01, 0xb4, 0x00]))).toEqual({ keyFrame: true, width: 320 });
    const middle = vp8Start(true, 640, 360);
    middle[0] = 0x80; // S clear: a later packet of the frame
    expect(readVp8FrameStart(middle)).toBeNull();
    expect(readVp8FrameStart(vp8Start(true, 640, 360).subarray(0, 8))).toBeNull();
  });

  it('counts a frame whole when its packets from the one after the last frame to its marker all came', () => {
    const s = new StreamStats('video', 90000);
    const packet = (seq: number, ts: number, start?: Buffer, end = false) => {
      s.onPacket(seq, ts, 1000, seq);
      if (s.frameStarted && start) s.onFrameStart(readVp8FrameStart(start));
      if (end) s.onFrameEnd(null, seq);
    };
    packet(10, 0, vp8Start(false), true); // the first we see: what came before is unknown
    packet(11, 3000, vp8Start(true, 1280, 720));
    packet(12, 3000);
    packet(13, 3000, undefined, true); // whole keyframe
    packet(14, 6000, vp8Start(false));
    packet(16, 6000, undefined, true); // 15 lost: not whole
    packet(18, 9000, undefined, true); // its first packet (17) lost: 18 is taken as its start, not following 16
    packet(19, 12000, vp8Start(false), true); // whole
    packet(20, 15000, vp8Start(true, 320, 180));
    packet(20, 15000); // repeated
    packet(21, 15000, undefined, true); // whole keyframe
    expect(s.frames).toBe(3);
    expect(s.keyFrames).toBe(2);
    expect(s.unmarkedFrames).toBe(6);
    expect(s.width).toBe(320);
    expect(s.firstFrameAt).toBe(13);
  });

  it('finds the transport-wide sequence number in one-byte and two-byte header extensions, and its id in SDP', () => {
    const rtp = (profile: number, ext: number[]) => {
      const words = Math.ceil(ext.length / 4);
      const b = Buffer.alloc(12 + 4 + words * 4 + 10);
      b[0] = 0x90;
      b.writeUInt16BE(profile, 12);
      b.writeUInt16BE(words, 14);
      Buffer.from(ext).copy(b, 16);
      return b;
    };
    // One-byte: id 1 (1 byte), padding, id 3 (2 bytes: 0x1234).
    const oneByte = rtp(0xbede, [0x10, 0x07, 0x00, 0x31, 0x12, 0x34]);
    expect(readHeaderExtensionUint16(oneByte, 3)).toBe(0x1234);
    expect(readHeaderExtensionUint16(oneByte, 1)).toBe(-1); // one byte long: not a 16-bit value
    expect(readHeaderExtensionUint16(oneByte, 5)).toBe(-1);
    // Two-byte: id 5, length 2.
    expect(readHeaderExtensionUint16(rtp(0x1000, [0x05, 0x02, 0xab, 0xcd]), 5)).toBe(0xabcd);
    const plain = Buffer.alloc(20);
    plain[0] = 0x80;
    expect(readHeaderExtensionUint16(plain, 3)).toBe(-1);
    // An extension block longer than the packet is not read.
    const cut = rtp(0xbede, [0x31, 0x12, 0x34]).subarray(0, 18);
    expect(readHeaderExtensionUint16(cut, 3)).toBe(-1);
    const sdp = 'v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time\r\na=extmap:4 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01\r\n';
    expect(transportCcId(sdp)).toBe(4);
    expect(transportCcId('v=0\r\n')).toBe(0);
  });
});

describe('CPU profile summary', () => {
  it('ranks functions by self time, names natives by caller, and skips idle', () => {
    const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber, columnNumber: 0 });
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2, 4, 5] },
        { id: 2, callFrame: frame('doSend', 'node:dgram', 686), children: [3] },
        { id: 3, callFrame: frame('send') },
        { id: 4, callFrame: frame('forward', 'file:///x/packages/sfu/dist/consumer.js', 144) },
        { id: 5, callFrame: frame('(idle)') },
      ],
      startTime: 0,
      endTime: 10_000,
      samples: [3, 3, 3, 4, 5, 5, 3],
      timeDeltas: [0, 1000, 1000, 1000, 1000, 1000, 1000],
    };
    const s = summarizeProfile(profile);
    expect(s.functions[0]).toMatchObject({ name: 'send', area: 'node: UDP (dgram)', where: 'native, called from doSend node:dgram:687' });
    expect(s.functions[1]).toMatchObject({ name: 'forward', area: 'colloquy sfu', where: 'dist/consumer.js:145' });
    expect(s.functions.map((f) => f.name)).not.toContain('(idle)');
    expect(s.functions[0]!.percent).toBeCloseTo(75, 5);
  });

  it("names the SFU's native module calls by their caller, whatever V8 labels them", () => {
    const frame = (functionName: string, url = '', lineNumber = 0) => ({ functionName, url, lineNumber, columnNumber: 0 });
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2, 4, 6] },
        { id: 2, callFrame: frame('sendRtp', 'file:///x/packages/sfu/dist/srtp-path.js', 120), children: [3] },
        // V8 gives every N-API function of a module one of their names: here the wrong one.
        { id: 3, callFrame: frame('gcmNew') },
        { id: 4, callFrame: frame('seal', 'file:///x/packages/sfu/dist/srtp/aead.js', 50), children: [5] },
        { id: 5, callFrame: frame('gcmNew') },
        // The send batch's sendmmsg() (udp-send-batch.ts), labelled with another of the module's names.
        { id: 6, callFrame: frame('flush', 'file:///x/packages/sfu/dist/udp-send-batch.js', 68), children: [7] },
        { id: 7, callFrame: frame('gcmNew') },
      ],
      startTime: 0,
      endTime: 6_000,
      samples: [3, 3, 3, 5, 3, 7, 5],
      timeDeltas: [0, 1000, 1000, 1000, 1000, 1000, 1000],
    };
    const s = summarizeProfile(profile);
    expect(s.functions[0]).toMatchObject({ name: 'native sendto (from sendRtp)', area: 'native module: UDP send' });
    expect(s.functions[1]).toMatchObject({ name: 'native aead (from seal)', area: 'native module: crypto' });
    expect(s.functions[2]).toMatchObject({ name: 'native sendmmsg (from flush)', area: 'native module: UDP send' });
    expect(s.areas.map((a) => a.area)).toEqual(['native module: UDP send', 'native module: crypto']);
  });
});

describe('plot and CLI', () => {
  it('draws one path per series on log axes', () => {
    const svg = lineChartSvg({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      series: [
        { label: 'a', color: '#00f', points: [{ x: 1, y: 300 }, { x: 10, y: 60 }, { x: 150, y: 25 }] },
        { label: 'b', color: '#f80', dashed: true, points: [{ x: 1, y: 200 }, { x: 150, y: 28 }] },
      ],
    });
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg).toContain('stroke-dasharray');
  });

  it('parses bitrates and validates options', () => {
    expect(parseBitrate('500k')).toBe(500_000);
    expect(parseBitrate('1.5M')).toBe(1_500_000);
    expect(parseBitrate('10')).toBeNull();
    expect(parseBitrate('fast')).toBeNull();
    const parsed = parseCli(['--janus', 'ws://127.0.0.1:8188', '--publishers', '4', '--mesh', '--subscribers', '0', '--bitrate', '1.5M', '--resolution', '1280x720']);
    expect(parsed).not.toBe('help');
    if (parsed === 'help') return;
    expect(parsed.options).toMatchObject({ target: { kind: 'janus' }, publishers: 4, subscribers: 0, mesh: true, clip: { width: 1280, height: 720, bitrate: 1_500_000 } });
    expect(percentile([5, 1, 3, 2, 4], 50)).toBe(3);
  });
});

describe('process CPU from /proc', () => {
  it('counts every thread at sub-tick precision, as process.cpuUsage does', () => {
    const a = sampleProcess(process.pid);
    const before = process.cpuUsage();
    const until = performance.now() + 30;
    let x = 0;
    while (performance.now() < until) x += Math.sqrt(x + 1);
    const used = process.cpuUsage(before);
    const b = sampleProcess(process.pid);
    expect(x).toBeGreaterThan(0);
    const ours = b.cpuUs - a.cpuUs;
    const node = used.user + used.system;
    // 30 ms busy: tick counting would read 0, 10, 20, 30 or 40 ms; run time reads about 30.
    expect(ours).toBeGreaterThan(node * 0.8);
    expect(ours).toBeLessThan(node * 1.5 + 5000);
    expect(ours % 10_000).not.toBe(0);
    expect(b.rssBytes).toBeGreaterThan(0);
  });
});
