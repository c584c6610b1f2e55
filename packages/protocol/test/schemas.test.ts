import { describe, expect, it } from 'vitest';
import { ERROR_NAMES, ErrorCodes, FINAL_CLOSE_CODES, CloseCodes } from '../src/index.js';
import { parseClientMessage } from '../src/schemas.js';

describe('parseClientMessage', () => {
  it('accepts every valid client message', () => {
    const valid = [
      { type: 'connect', id: 1, version: 1, sessionId: '1_abc', token: 'T1==x', apiKey: '123', sdk: { name: 'js', version: '1' } },
      { type: 'resume', id: 1, version: 1, sessionId: '1_abc', connectionId: 'c', resumeSecret: 's', lastSeq: 0 },
      { type: 'signal', id: 2, to: 'c', signalType: 'chat', data: 'hi' },
      { type: 'signal', id: 3 },
      { type: 'forceDisconnect', id: 4, connectionId: 'c' },
      { type: 'disconnect', id: 5 },
      { type: 'ping' },
      { type: 'ping', ack: 3 },
      { type: 'pong', ack: 0 },
      { type: 'ack', seq: 7 },
      { type: 'ack', seq: 7, bseq: 12 },
      { type: 'pong', ack: 0, bseqAck: 4 },
      { type: 'connect', id: 1, version: 1, versions: [1, 2], sessionId: '1_abc', token: 'T1==x' },
      { type: 'resume', id: 1, version: 2, sessionId: '1_abc', connectionId: 'c', resumeSecret: 's', lastSeq: 0, lastBseq: 9 },
      { type: 'publish', id: 6, name: 'cam', videoType: 'camera', hasAudio: true, hasVideo: true, videoDimensions: { width: 640, height: 480 }, frameRate: 30, sdp: 'v=0\r\n' },
      { type: 'publish', id: 7, videoType: null, hasAudio: true, hasVideo: false },
      { type: 'unpublish', id: 8, streamId: 's', reason: 'mediaStopped' },
      { type: 'updateStream', id: 9, streamId: 's', hasVideo: false },
      { type: 'subscribe', id: 10, streamId: 's', subscribeToVideo: false },
      { type: 'answer', id: 11, subscriberId: 'x', sdp: 'v=0' },
      { type: 'updateSubscriber', id: 12, subscriberId: 'x', subscribeToAudio: true },
      { type: 'unsubscribe', id: 13, subscriberId: 'x' },
      { type: 'iceCandidate', id: 14, streamId: 's', candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 } },
      { type: 'iceCandidate', id: 15, subscriberId: 'x', candidate: null },
      { type: 'relay', id: 16, subscriberId: 'x', description: { type: 'offer', sdp: 'v=0' } },
      { type: 'relay', id: 17, subscriberId: 'x', candidate: null },
      { type: 'forceUnpublish', id: 18, streamId: 's' },
      { type: 'forceMuteStream', id: 19, streamId: 's' },
      { type: 'forceMuteAll', id: 20, excludedStreamIds: ['s'] },
      { type: 'disableForceMute', id: 21 },
      { type: 'clientStats', tracks: [{ direction: 'send', kind: 'video', bitrate: 1e6, packetLoss: 0.01, frameRate: 30 }] },
      { type: 'clientError', code: 1553, name: 'OT_ICE_WORKFLOW_FAILED', message: 'ICE failed', streamId: 's' },
    ];
    for (const m of valid) expect(parseClientMessage(JSON.stringify(m)), JSON.stringify(m)).toEqual({ ok: true, message: m });
  });

  it('drops unknown fields rather than passing them on', () => {
    const parsed = parseClientMessage(JSON.stringify({ type: 'disconnect', id: 1, admin: true }));
    expect(parsed).toEqual({ ok: true, message: { type: 'disconnect', id: 1 } });
  });

  it('classifies what is wrong, keeping the request id when it can', () => {
    expect(parseClientMessage('{')).toMatchObject({ ok: false, code: ErrorCodes.MALFORMED_MESSAGE });
    expect(parseClientMessage('[1]')).toMatchObject({ ok: false, code: ErrorCodes.MALFORMED_MESSAGE });
    expect(parseClientMessage('{"id":4}')).toMatchObject({ ok: false, code: ErrorCodes.MALFORMED_MESSAGE, re: 4 });
    expect(parseClientMessage('{"type":"hasOwnProperty","id":4}')).toMatchObject({ ok: false, code: ErrorCodes.UNKNOWN_MESSAGE_TYPE, re: 4 });
    const bad = parseClientMessage('{"type":"signal","id":9,"data":5}');
    expect(bad).toMatchObject({ ok: false, code: ErrorCodes.INVALID_PARAMETER, re: 9 });
    expect(!bad.ok && bad.message).toMatch(/data/);
    expect(parseClientMessage('{"type":"signal","id":-1}')).toMatchObject({ ok: false, code: ErrorCodes.INVALID_PARAMETER, re: undefined });
  });

  it('bounds and shapes the media messages', () => {
    const refused = (m: unknown) => parseClientMessage(JSON.stringify(m));
    expect(refused({ type: 'publish', id: 1, hasAudio: true, hasVideo: true, sdp: 'x'.repeat(40_000) })).toMatchObject({ ok: false, code: ErrorCodes.INVALID_PARAMETER });
    expect(refused({ type: 'publish', id: 1, hasAudio: true, hasVideo: true, videoType: 'hologram' })).toMatchObject({ ok: false });
    expect(refused({ type: 'publish', id: 1, hasAudio: true, hasVideo: true, videoDimensions: { width: 0, height: 10 } })).toMatchObject({ ok: false });
    expect(refused({ type: 'relay', id: 1, subscriberId: 'x', description: { type: 'offer', sdp: 'v=0' }, candidate: null })).toMatchObject({ ok: false });
    expect(refused({ type: 'relay', id: 1, subscriberId: 'x' })).toMatchObject({ ok: false });
    expect(refused({ type: 'relay', id: 1, subscriberId: 'x', description: { type: 'pranswer', sdp: 'v=0' } })).toMatchObject({ ok: false });
    expect(refused({ type: 'iceCandidate', id: 1, streamId: 's', subscriberId: 'x', candidate: null })).toMatchObject({ ok: false });
    expect(refused({ type: 'iceCandidate', id: 1, candidate: { candidate: 'x'.repeat(2000) }, streamId: 's' })).toMatchObject({ ok: false });
    expect(refused({ type: 'clientStats', tracks: Array.from({ length: 33 }, () => ({ direction: 'send', kind: 'audio', bitrate: 1, packetLoss: 0 })) })).toMatchObject({ ok: false });
    expect(refused({ type: 'clientStats', tracks: [{ direction: 'send', kind: 'audio', bitrate: 1, packetLoss: 2 }] })).toMatchObject({ ok: false });
    expect(refused({ type: 'unpublish', id: 1, streamId: 's', reason: 'forceUnpublished' })).toMatchObject({ ok: false });
  });

  it('takes a preferred frame rate as a positive number or null, and refuses anything else naming the field', () => {
    const parse = (m: unknown) => parseClientMessage(JSON.stringify(m));
    for (const m of [
      { type: 'subscribe', id: 1, streamId: 's', preferredFrameRate: 7.5 },
      { type: 'subscribe', id: 2, streamId: 's', preferredFrameRate: null },
      { type: 'updateSubscriber', id: 3, subscriberId: 'x', preferredFrameRate: 15 },
      { type: 'updateSubscriber', id: 4, subscriberId: 'x', preferredFrameRate: null },
    ]) expect(parse(m)).toEqual({ ok: true, message: m });
    for (const value of [0, -1, '15', 1e6, true, {}]) {
      for (const m of [{ type: 'subscribe', id: 5, streamId: 's', preferredFrameRate: value }, { type: 'updateSubscriber', id: 6, subscriberId: 'x', preferredFrameRate: value }]) {
        const bad = parse(m);
        expect(bad, JSON.stringify(value)).toMatchObject({ ok: false, code: ErrorCodes.INVALID_PARAMETER, re: m.id });
        expect(!bad.ok && bad.message).toMatch(/preferredFrameRate/);
      }
    }
  });

  it('carries the live-captions flags as booleans only', () => {
    const parse = (m: unknown) => parseClientMessage(JSON.stringify(m));
    for (const m of [
      { type: 'publish', id: 1, hasAudio: true, hasVideo: false, publishCaptions: true },
      { type: 'updateStream', id: 2, streamId: 's', publishCaptions: false },
      { type: 'subscribe', id: 3, streamId: 's', subscribeToCaptions: true },
      { type: 'updateSubscriber', id: 4, subscriberId: 'x', subscribeToCaptions: false },
    ]) {
      expect(parse(m)).toEqual({ ok: true, message: m });
    }
    expect(parse({ type: 'publish', id: 1, hasAudio: true, hasVideo: false, publishCaptions: 'yes' })).toMatchObject({ ok: false, code: ErrorCodes.INVALID_PARAMETER, re: 1 });
    expect(parse({ type: 'updateSubscriber', id: 2, subscriberId: 'x', subscribeToCaptions: 1 })).toMatchObject({ ok: false, code: ErrorCodes.INVALID_PARAMETER, re: 2 });
  });

  it('carries the publisher audio fallback: audioFallback on publish, videoDisabledForQuality on updateStream, booleans only', () => {
    const parse = (m: unknown) => parseClientMessage(JSON.stringify(m));
    for (const m of [
      { type: 'publish', id: 1, hasAudio: true, hasVideo: true, audioFallback: { publisher: true, subscriber: false } },
      { type: 'updateStream', id: 2, streamId: 's', videoDisabledForQuality: true },
      { type: 'updateStream', id: 3, streamId: 's', videoDisabledForQuality: false },
    ]) {
      expect(parse(m)).toEqual({ ok: true, message: m });
    }
    const bad = parse({ type: 'updateStream', id: 4, streamId: 's', videoDisabledForQuality: 'yes' });
    expect(bad).toMatchObject({ ok: false, code: ErrorCodes.INVALID_PARAMETER, re: 4 });
    expect(!bad.ok && bad.message).toMatch(/videoDisabledForQuality/);
    expect(parse({ type: 'publish', id: 5, hasAudio: true, hasVideo: true, audioFallback: { publisher: 1 } })).toMatchObject({ ok: false, code: ErrorCodes.INVALID_PARAMETER, re: 5 });
  });

  it('bounds the v2 fields: offered versions, broadcast numbers', () => {
    const refused = (m: unknown) => parseClientMessage(JSON.stringify(m));
    const connect = { type: 'connect', id: 1, version: 1, sessionId: '1_abc', token: 'T1==x' };
    expect(refused({ ...connect, versions: Array.from({ length: 17 }, (_, i) => i + 1) })).toMatchObject({ ok: false, code: ErrorCodes.INVALID_PARAMETER });
    expect(refused({ ...connect, versions: [1, 2.5] })).toMatchObject({ ok: false });
    expect(refused({ ...connect, versions: '2' })).toMatchObject({ ok: false });
    expect(refused({ type: 'resume', id: 1, version: 2, sessionId: '1_abc', connectionId: 'c', resumeSecret: 's', lastSeq: 0, lastBseq: -1 })).toMatchObject({ ok: false });
    expect(refused({ type: 'ack', bseq: 1.5 })).toMatchObject({ ok: false });
    expect(refused({ type: 'ping', bseqAck: 'x' })).toMatchObject({ ok: false });
  });

  it('names every error code and marks the close codes a client must not resume after', () => {
    for (const code of Object.values(ErrorCodes)) expect(ERROR_NAMES[code]).toMatch(/^OT_/);
    expect(FINAL_CLOSE_CODES).toContain(CloseCodes.FORCE_DISCONNECTED);
    expect(FINAL_CLOSE_CODES).not.toContain(CloseCodes.MESSAGE_TOO_BIG);
    expect(FINAL_CLOSE_CODES).not.toContain(CloseCodes.GOING_AWAY);
  });
});
