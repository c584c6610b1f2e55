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

  it('names every error code and marks the close codes a client must not resume after', () => {
    for (const code of Object.values(ErrorCodes)) expect(ERROR_NAMES[code]).toMatch(/^OT_/);
    expect(FINAL_CLOSE_CODES).toContain(CloseCodes.FORCE_DISCONNECTED);
    expect(FINAL_CLOSE_CODES).not.toContain(CloseCodes.MESSAGE_TOO_BIG);
    expect(FINAL_CLOSE_CODES).not.toContain(CloseCodes.GOING_AWAY);
  });
});
