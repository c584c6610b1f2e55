// The SDK's one SDP edit, Opus's fmtp (enableStereo, audioBitrate, enableDtx), without a browser.

import { describe, expect, it } from 'vitest';
import { withOpusOptions } from '../src/sdp.js';

const answer = [
  'v=0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 0',
  'a=rtpmap:111 opus/48000/2',
  'a=fmtp:111 minptime=10;useinbandfec=1',
  'a=rtpmap:0 PCMU/8000',
  'm=video 9 UDP/TLS/RTP/SAVPF 96',
  'a=rtpmap:96 VP8/90000',
  'a=fmtp:96 x-google-start-bitrate=1000',
  '',
].join('\r\n');

const fmtp = (sdp: string, pt: number): string | undefined => sdp.split('\r\n').find((l) => l.startsWith(`a=fmtp:${pt} `));

describe('withOpusOptions', () => {
  it('sets usedtx, stereo and maxaveragebitrate on Opus only, keeping its other parameters and the line ending', () => {
    const out = withOpusOptions(answer, { dtx: true, stereo: true, maxAverageBitrate: 64000 });
    expect(fmtp(out, 111)).toBe('a=fmtp:111 minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1;usedtx=1;maxaveragebitrate=64000');
    expect(fmtp(out, 96)).toBe('a=fmtp:96 x-google-start-bitrate=1000');
    expect(out.split('\r\n')).toHaveLength(answer.split('\r\n').length);
  });

  it('removes what was not asked for (false, null) and leaves what is undefined', () => {
    const withAll = answer.replace('minptime=10;useinbandfec=1', 'minptime=10;useinbandfec=1;usedtx=1;stereo=1;sprop-stereo=1;maxaveragebitrate=20000');
    expect(fmtp(withOpusOptions(withAll, { dtx: false, stereo: false, maxAverageBitrate: null }), 111)).toBe('a=fmtp:111 minptime=10;useinbandfec=1');
    expect(withOpusOptions(withAll, {})).toBe(withAll);
  });

  it('adds an fmtp line after the rtpmap of an Opus payload type that has none', () => {
    const bare = answer.replace('a=fmtp:111 minptime=10;useinbandfec=1\r\n', '');
    const lines = withOpusOptions(bare, { dtx: true }).split('\r\n');
    expect(lines[lines.indexOf('a=rtpmap:111 opus/48000/2') + 1]).toBe('a=fmtp:111 usedtx=1');
    expect(withOpusOptions(bare, { dtx: false })).toBe(bare);
  });
});
