// Our SDP carries a=ice-lite at session level (peer-config.ts iceLiteAtSessionLevel), where browsers
// read it, whatever werift wrote in the media sections. The browser side of it (no 487 Role Conflict
// for a subscriber answering our offer) is in browser.test.ts.

import { describe, expect, it } from 'vitest';
import { RTCPeerConnection } from 'werift';
import { iceLiteAtSessionLevel } from '../src/peer-config.js';

const WERIFT_LIKE = ['v=0', 'o=- 1 0 IN IP4 0.0.0.0', 's=-', 't=0 0', 'a=group:BUNDLE 0 1', 'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=ice-lite', 'a=mid:0', 'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=ice-lite', 'a=mid:1', ''];

describe('a=ice-lite at session level', () => {
  it('moves the media sections\' a=ice-lite to one line before the first m=, keeping everything else in order', () => {
    const out = iceLiteAtSessionLevel(WERIFT_LIKE.join('\r\n')).split('\r\n');
    expect(out).toEqual(['v=0', 'o=- 1 0 IN IP4 0.0.0.0', 's=-', 't=0 0', 'a=group:BUNDLE 0 1', 'a=ice-lite', 'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:0', 'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=mid:1', '']);
  });

  it('leaves an SDP without a=ice-lite as it is, and keeps \\n line ends', () => {
    const full = WERIFT_LIKE.filter((l) => l !== 'a=ice-lite').join('\r\n');
    expect(iceLiteAtSessionLevel(full)).toBe(full);
    expect(iceLiteAtSessionLevel(WERIFT_LIKE.join('\n')).split('\n').indexOf('a=ice-lite')).toBe(5);
  });

  it("werift's own lite offer comes out with it at session level only, and a werift peer still reads it as lite", async () => {
    const lite = new RTCPeerConnection({ iceServers: [], iceLite: true, iceUseIpv6: false, iceAdditionalHostAddresses: ['127.0.0.1'], iceUseIpv4: false });
    const peer = new RTCPeerConnection({ iceServers: [] });
    try {
      lite.addTransceiver('audio', { direction: 'sendonly' });
      await lite.setLocalDescription(await lite.createOffer());
      const sdp = iceLiteAtSessionLevel(lite.localDescription!.sdp);
      const lines = sdp.split(/\r?\n/);
      expect(lines.filter((l) => l === 'a=ice-lite')).toHaveLength(1);
      expect(lines.indexOf('a=ice-lite')).toBeLessThan(lines.findIndex((l) => l.startsWith('m=')));
      await peer.setRemoteDescription({ type: 'offer', sdp });
      await peer.setLocalDescription(await peer.createAnswer());
      // A full agent facing a lite one is the controlling side (RFC 8445 §6.1.1).
      expect((peer.iceTransports[0] as unknown as { connection: { iceControlling: boolean } }).connection.iceControlling).toBe(true);
    } finally {
      await lite.close();
      await peer.close();
    }
  });
});
