// What a publisher's answer says about its uplink, per uplinkEstimation: in 'transport-cc' mode the
// transport-wide sequence number extension (under the offer's one id, on audio and video),
// `a=rtcp-fb transport-cc` and Chromium's start bitrate; in 'remb' mode none of them. No browser:
// a Chromium-shaped offer (the Chromium tests are uplink.test.ts and browser.test.ts).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MediaError } from '../src/errors.js';
import type { MediaEngine } from '../src/index.js';
import { newEngine } from './helpers.js';

const TWCC = 'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01';

/** An offer as Chromium makes it: one extension id per URI across the BUNDLE. */
const OFFER = [
  'v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=group:BUNDLE 0 1', 'a=msid-semantic: WMS',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx', 'a=ice-options:trickle',
  'a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF',
  'a=setup:actpass', 'a=mid:0', 'a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level',
  'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time', `a=extmap:3 ${TWCC}`,
  'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid', 'a=sendonly', 'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2', 'a=rtcp-fb:111 transport-cc', 'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=ssrc:1111 cname:pub',
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97', 'c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0',
  'a=ice-ufrag:abcd', 'a=ice-pwd:abcdefghijklmnopqrstuvwx', 'a=ice-options:trickle',
  'a=fingerprint:sha-256 00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF',
  'a=setup:actpass', 'a=mid:1', 'a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  `a=extmap:3 ${TWCC}`, 'a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid', 'a=sendonly', 'a=rtcp-mux', 'a=rtcp-rsize',
  'a=rtpmap:96 VP8/90000', 'a=rtcp-fb:96 goog-remb', 'a=rtcp-fb:96 transport-cc', 'a=rtcp-fb:96 nack', 'a=rtcp-fb:96 nack pli',
  'a=rtpmap:97 rtx/90000', 'a=fmtp:97 apt=96', 'a=ssrc-group:FID 2222 3333', 'a=ssrc:2222 cname:pub', 'a=ssrc:3333 cname:pub',
  '',
].join('\r\n');

/** The lines of one m-section of an SDP (0 audio, 1 video here). */
function section(sdp: string, index: number): string[] {
  return sdp.split(/\r\n(?=m=)/)[index + 1]!.split('\r\n');
}

let engine: MediaEngine;
beforeAll(() => {
  engine = newEngine({ portRange: [43500, 43599] });
});
afterAll(() => engine.close());

describe('uplink estimation in the publisher answer', () => {
  it("'transport-cc' (the default): the extension under the offer's id on both m-lines, rtcp-fb transport-cc, a start bitrate", async () => {
    expect(engine.uplinkEstimation).toBe('transport-cc');
    const router = engine.createRouter({ id: 'uplink-twcc', maxIncomingBitrate: 800_000 });
    const transport = router.createPublisherTransport();
    const { answer } = await transport.acceptOffer(OFFER);
    const [audio, video] = [section(answer, 0), section(answer, 1)];
    expect(audio).toContain(`a=extmap:3 ${TWCC}`);
    expect(video).toContain(`a=extmap:3 ${TWCC}`);
    expect(audio).toContain('a=rtcp-fb:111 transport-cc');
    expect(video).toContain('a=rtcp-fb:96 transport-cc');
    expect(video).toContain('a=rtcp-fb:96 goog-remb');
    // The start bitrate is the lower of 1 Mbps and the session's cap; the RTX line keeps its own fmtp.
    expect(video.find((l) => l.startsWith('a=fmtp:96'))).toBe('a=fmtp:96 x-google-start-bitrate=800');
    expect(video).toContain('a=fmtp:97 apt=96');
    // The producer keeps the offered codec (consumers' offers must not carry the start bitrate).
    const producer = transport.producers.find((p) => p.kind === 'video')!;
    expect(JSON.stringify(producer.getStats())).not.toContain('x-google');
    expect(transport.getStats()).toMatchObject({ uplinkEstimation: 'transport-cc', transportFeedback: null });
    await router.close();
  });

  it("'remb': no transport-wide numbers and no start bitrate", async () => {
    const router = engine.createRouter({ id: 'uplink-remb', uplinkEstimation: 'remb' });
    const transport = router.createPublisherTransport();
    const { answer } = await transport.acceptOffer(OFFER);
    // werift echoes the offer's rtcp-fb lines; without the extension the browser has no numbers to
    // send, so its estimator runs on REMB and loss only.
    expect(answer).not.toContain(TWCC);
    expect(answer).not.toContain('x-google-start-bitrate');
    expect(answer).toContain('a=rtcp-fb:96 goog-remb');
    expect(transport.getStats().uplinkEstimation).toBe('remb');
    await router.close();
  });

  it('refuses an unknown uplinkEstimation', () => {
    expect(() => engine.createRouter({ id: 'uplink-bad', uplinkEstimation: 'gcc' as never })).toThrow(MediaError);
  });
});
