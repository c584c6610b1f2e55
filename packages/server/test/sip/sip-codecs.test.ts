// The SIP bridge's pure parts: G.711 against its defining properties (µ-law/A-law round trips within
// the companding step, known code points), our SDP offer read back, the far end's answer read
// as the call uses it (codec choice, telephone-event, SDES key, direction), and SDES SRTP between
// two ends (each decrypts what the other sends; a changed byte or a wrong key is refused).

import { describe, expect, it } from 'vitest';
import { decodeG711, encodeG711, linearToAlaw, linearToMulaw } from '../../src/sip/g711.js';
import { downsampleFrom48k, upsampleTo48k } from '../../src/session-audio/index.js';
import { buildOffer, readRemoteSdp, readRemoteVideo } from '../../src/sip/sdp.js';
import { newSdesKey, SdesSrtp } from '../../src/sip/srtp.js';

describe('G.711', () => {
  it('round-trips every 16-bit sample within the companding step, both laws', () => {
    const pcm = new Int16Array(65536);
    for (let i = 0; i < pcm.length; i++) pcm[i] = i - 32768;
    for (const codec of ['PCMU', 'PCMA'] as const) {
      const back = decodeG711(codec, encodeG711(codec, pcm));
      for (let i = 0; i < pcm.length; i += 7) {
        const x = pcm[i]!;
        // The step grows with the magnitude: about 1/16 of it, never under the smallest step.
        expect(Math.abs(back[i]! - x), `${codec} ${x}`).toBeLessThanOrEqual(Math.max(Math.abs(x) / 16 + 16, 33));
      }
    }
  });
  it('encodes silence and full scale to the standard code points', () => {
    expect(linearToMulaw(0)).toBe(0xff);
    expect(linearToMulaw(32767)).toBe(0x80);
    expect(linearToMulaw(-32768)).toBe(0x00);
    expect(linearToAlaw(0)).toBe(0xd5);
    expect(linearToAlaw(-1)).toBe(0x55);
  });
  it('resamples 8 kHz <-> 48 kHz keeping a tone', () => {
    const pcm8 = new Int16Array(160).map((_, i) => Math.round(10000 * Math.sin((2 * Math.PI * 1000 * i) / 8000)));
    const up = upsampleTo48k(pcm8, 8000);
    expect(up.length).toBe(960);
    const down = downsampleFrom48k(up, 8000);
    expect(down.length).toBe(160);
    let err = 0;
    for (let i = 2; i < 150; i++) err = Math.max(err, Math.abs(down[i]! - pcm8[i]!));
    expect(err).toBeLessThan(3000); // boxcar low-pass: ~0.8 gain at 1 kHz, no aliasing of the tone
  });
});

describe('SIP SDP', () => {
  it('offers PCMU, PCMA, Opus and telephone-event; secure offers RTP/SAVP with a crypto line', () => {
    const plain = buildOffer({ address: '192.0.2.10', port: 40002, sessionVersion: 7 });
    expect(plain).toContain('m=audio 40002 RTP/AVP 0 8 111 101\r\n');
    expect(plain).toContain('a=rtpmap:101 telephone-event/8000\r\n');
    expect(readRemoteSdp(plain)).toMatchObject({ address: '192.0.2.10', port: 40002, codec: 'PCMU', payloadType: 0, telephoneEventPt: 101, srtpKey: null, direction: 'sendrecv' });
    const key = Buffer.alloc(30, 7).toString('base64');
    const secure = buildOffer({ address: '192.0.2.10', port: 40002, sessionVersion: 7, srtpKey: key });
    expect(secure).toContain('RTP/SAVP');
    expect(readRemoteSdp(secure).srtpKey).toBe(key);
  });
  it('a video offer adds VP8 with NACK, PLI and FIR feedback, an RTCP port and rtcp-mux; reads the far end\'s video', () => {
    const key = newSdesKey();
    const offer = buildOffer({ address: '192.0.2.10', port: 40002, sessionVersion: 7, video: { port: 40004, srtpKey: key } });
    expect(offer).toContain('m=video 40004 RTP/SAVP 96\r\na=rtpmap:96 VP8/90000\r\na=rtcp-fb:96 nack\r\na=rtcp-fb:96 nack pli\r\na=rtcp-fb:96 ccm fir\r\na=rtcp:40005\r\na=rtcp-mux\r\n');
    expect(offer).toContain(`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${key}`);
    expect(buildOffer({ address: '192.0.2.10', port: 40002, sessionVersion: 7 })).not.toContain('m=video');
    const audio = ['v=0', 'o=- 1 2 IN IP4 198.51.100.7', 's=-', 'c=IN IP4 198.51.100.7', 't=0 0', 'm=audio 30000 RTP/AVP 0', 'a=rtpmap:0 PCMU/8000'];
    const answer = (...video: string[]) => [...audio, ...video, ''].join('\r\n');
    // baresip's answer: VP8 at its own payload type, RTCP on the next port (no rtcp-mux).
    expect(readRemoteVideo(answer('m=video 30002 RTP/AVP 100', 'a=rtpmap:100 VP8/90000', 'a=sendrecv'))).toEqual({ address: '198.51.100.7', port: 30002, rtcpPort: 30003, rtcpMux: false, payloadType: 100, srtpKey: null, direction: 'sendrecv' });
    expect(readRemoteVideo(answer('m=video 30002 RTP/AVP 96', 'a=rtpmap:96 VP8/90000', 'a=rtcp-mux'))).toMatchObject({ rtcpPort: 30002, rtcpMux: true });
    expect(readRemoteVideo(answer('m=video 30002 RTP/AVP 96', 'a=rtpmap:96 VP8/90000', 'a=rtcp:31000'))).toMatchObject({ rtcpPort: 31000 });
    expect(readRemoteVideo(answer('m=video 30002 RTP/SAVP 96', 'a=rtpmap:96 VP8/90000', `a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${key}`))).toMatchObject({ srtpKey: key });
    // Declined (port 0), or no VP8: no video.
    expect(readRemoteVideo(answer('m=video 0 RTP/AVP 96', 'a=rtpmap:96 VP8/90000'))).toBeNull();
    expect(readRemoteVideo(answer('m=video 30002 RTP/AVP 97', 'a=rtpmap:97 H264/90000'))).toBeNull();
    expect(readRemoteVideo(answer())).toBeNull();
  });
  it('reads the codec the far end chose, its DTMF payload type and hold', () => {
    const answer = ['v=0', 'o=- 1 2 IN IP4 198.51.100.7', 's=-', 'c=IN IP4 198.51.100.7', 't=0 0', 'm=audio 30000 RTP/AVP 8 96', 'a=rtpmap:8 PCMA/8000', 'a=rtpmap:96 telephone-event/8000', 'a=sendonly', ''].join('\r\n');
    expect(readRemoteSdp(answer)).toMatchObject({ codec: 'PCMA', payloadType: 8, telephoneEventPt: 96, direction: 'sendonly', port: 30000 });
    const opus = answer.replace('RTP/AVP 8 96', 'RTP/AVP 111').replace('a=rtpmap:8 PCMA/8000', 'a=rtpmap:111 opus/48000/2');
    expect(readRemoteSdp(opus)).toMatchObject({ codec: 'opus', clockRate: 48000, telephoneEventPt: null });
    expect(() => readRemoteSdp(answer.replace('RTP/AVP 8 96', 'RTP/AVP 18').replace('a=rtpmap:8 PCMA/8000', 'a=rtpmap:18 G729/8000'))).toThrow(/no codec/);
    expect(() => readRemoteSdp(answer.replace('m=audio 30000', 'm=audio 0'))).toThrow(/no audio/);
  });
});

describe('SDES SRTP', () => {
  /** A plain RTP packet: version 2, PCMU, the given sequence number, 160 bytes of payload. */
  const rtp = (seq: number, fill: number): Buffer => {
    const header = Buffer.from([0x80, 0x00, seq >> 8, seq & 0xff, 0, 0, 0x12, 0x34, 0xca, 0xfe, 0xba, 0xbe]);
    return Buffer.concat([header, Buffer.alloc(160, fill)]);
  };
  it('each end decrypts what the other sends; the payload is not readable on the wire', () => {
    const ours = newSdesKey();
    const theirs = newSdesKey();
    expect(Buffer.from(ours, 'base64')).toHaveLength(30);
    const us = new SdesSrtp(ours, theirs);
    const them = new SdesSrtp(theirs, ours);
    for (const seq of [65534, 65535, 0, 1]) {
      const plain = rtp(seq, 0x55);
      const wire = us.protect(plain);
      expect(wire).toHaveLength(plain.length + 10); // the 80-bit tag
      expect(wire.subarray(12, 172).equals(plain.subarray(12))).toBe(false);
      expect(them.unprotect(wire)?.equals(plain)).toBe(true);
      expect(us.unprotect(them.protect(plain))?.equals(plain)).toBe(true);
    }
  });
  it('refuses a changed packet, a wrong key and a short one', () => {
    const ours = newSdesKey();
    const theirs = newSdesKey();
    const wire = new SdesSrtp(ours, theirs).protect(rtp(7, 1));
    const tampered = Buffer.from(wire);
    tampered[20]! ^= 1;
    expect(new SdesSrtp(theirs, ours).unprotect(tampered)).toBeNull();
    expect(new SdesSrtp(theirs, newSdesKey()).unprotect(wire)).toBeNull();
    expect(new SdesSrtp(theirs, ours).unprotect(wire.subarray(0, 15))).toBeNull();
    expect(() => new SdesSrtp('c2hvcnQ=', ours)).toThrow(/30/);
  });
  it('refuses replays: a packet received again, one older than the window; takes reordered ones, across the wrap', () => {
    const ours = newSdesKey();
    const theirs = newSdesKey();
    const sender = new SdesSrtp(theirs, ours);
    const us = new SdesSrtp(ours, theirs);
    // What the far end sends, encrypted in its sending order: 65500 … 65535, 0 … 40, then 1000.
    const wire = new Map<number, Buffer>();
    for (let i = 65500; i <= 65536 + 40; i++) wire.set(i & 0xffff, sender.protect(rtp(i & 0xffff, i & 0xff)));
    wire.set(1000, sender.protect(rtp(1000, 9)));
    const send = (seq: number) => us.unprotect(wire.get(seq)!);
    // 65500 … 65535, 0 … 40 in order, but 65530 held back: all taken.
    for (let i = 65500; i < 65536 + 40; i++) if (i !== 65530) expect(send(i & 0xffff)).not.toBeNull();
    expect(us.replayed).toBe(0);
    // Every one of them again: refused, counted.
    expect(send(39)).toBeNull();
    expect(send(0)).toBeNull();
    expect(send(65535)).toBeNull();
    expect(us.replayed).toBe(3);
    // 65530 arrives late but inside the 64-packet window (46 behind): taken once, refused the second time.
    expect(send(65530)).not.toBeNull();
    expect(send(65530)).toBeNull();
    // 65500 is 76 behind the highest (39 after the wrap): older than the window, refused.
    expect(send(65500)).toBeNull();
    expect(us.replayed).toBe(5);
    // A forgery far ahead does not move the window: the next real packet is still taken.
    const forged = Buffer.from(wire.get(1000)!);
    forged[20]! ^= 1;
    expect(us.unprotect(forged)).toBeNull();
    expect(send(40)).not.toBeNull();
    // Another SSRC has its own window.
    const other = rtp(39, 3);
    other.writeUInt32BE(0x01020304, 8);
    expect(us.unprotect(new SdesSrtp(theirs, ours).protect(other))).not.toBeNull();
  });
  it('protects RTCP (SRTCP) both ways', () => {
    const ours = newSdesKey();
    const theirs = newSdesKey();
    const pli = Buffer.from([0x81, 206, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8]);
    const wire = new SdesSrtp(ours, theirs).protectRtcp(pli);
    expect(wire.length).toBeGreaterThan(pli.length);
    expect(new SdesSrtp(theirs, ours).unprotectRtcp(wire)?.equals(pli)).toBe(true);
    expect(new SdesSrtp(theirs, newSdesKey()).unprotectRtcp(wire)).toBeNull();
  });
  it('reads the far end\'s key with a lifetime, and refuses one with an MKI', () => {
    const key = newSdesKey();
    const answer = (crypto: string) => ['v=0', 'o=- 1 2 IN IP4 198.51.100.7', 's=-', 'c=IN IP4 198.51.100.7', 't=0 0', 'm=audio 30000 RTP/SAVP 0', crypto, ''].join('\r\n');
    expect(readRemoteSdp(answer(`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${key}|2^31`)).srtpKey).toBe(key);
    expect(readRemoteSdp(answer(`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${key}|2^20|1:4`)).srtpKey).toBeNull();
    expect(readRemoteSdp(answer(`a=crypto:1 AES_CM_128_HMAC_SHA1_32 inline:${key}`)).srtpKey).toBeNull();
  });
});

