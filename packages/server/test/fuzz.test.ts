// A slice of the REST and signaling fuzz (@colloquy/testing/fuzz; `npm run fuzz -- --messages N`
// runs as many as asked against a server in its own process): no 5xx but the 501s of features
// this server does not offer, every REST call answered, the bystanders unaffected, and nothing
// logged at error level (a 501 is a warn line without a stack).

import { runFuzz } from '@colloquy/testing/fuzz';
import { signJwt } from '@colloquy/tokens';
import OpenTok from 'opentok';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { capturingLogger, startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
const log = capturingLogger('info');

beforeAll(async () => {
  t = await startTestServer({}, { logger: log.logger });
});
afterAll(async () => t?.close());

it('1,500 fuzzed REST and signaling messages: 0 5xx, 0 unanswered, 0 bystander failures, no error logs', async () => {
  const ot = new OpenTok(t.apiKey, t.apiSecret, t.url);
  const report = await runFuzz(
    {
      url: t.url,
      apiKey: t.apiKey,
      restAuth: () => {
        const iat = Math.floor(Date.now() / 1000);
        return { 'X-OPENTOK-AUTH': signJwt({ iss: t.apiKey, ist: 'project', iat, exp: iat + 300 }, t.apiSecret, 'HS256') };
      },
      token: (sessionId, data) => ot.generateToken(sessionId, { data, role: 'publisher' }),
    },
    { messages: 1500, seed: 7, probeEvery: 150 },
  );
  expect(report.messages).toBe(1500);
  expect(report.serverErrors).toEqual([]);
  expect(report.unanswered).toBe(0);
  expect(report.bystanderFailures).toBe(0);
  expect(report.probes).toBeGreaterThanOrEqual(10);
  expect(report.rest).toBeGreaterThan(500);
  expect(report.signaling).toBeGreaterThan(500);
  expect(report.notImplemented).toBeGreaterThan(0);
  expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  const errors = log.lines.filter((l) => (l['level'] as number) >= 50);
  expect(errors.map((l) => l['msg'])).toEqual([]);
  // 501s: one warn line each, without a stack.
  const notImplemented = log.lines.filter((l) => l['status'] === 501);
  expect(notImplemented.length).toBe(report.notImplemented);
  expect(notImplemented.every((l) => l['level'] === 40 && l['err'] === undefined)).toBe(true);
}, 240_000);
