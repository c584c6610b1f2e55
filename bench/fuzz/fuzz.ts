// The REST and signaling fuzz at any length, against the real server in its own process (so a
// crash is seen as the process ending): N messages from @colloquy/testing/fuzz, then the figures:
// messages, crashes, 5xx (501s of features this server does not offer counted apart), REST
// statuses, bystander probes and failures. Exits 1 if the server crashed, answered a 5xx, left a
// REST call unanswered, or a bystander missed a signal. `npm test` runs a 1,500-message slice
// (packages/server/test/fuzz.test.ts).
//
//   npm run fuzz -- --messages 100000 [--seed 7] [--json FILE]

import { Colloquy, RestClient } from '@colloquy/sdk-node';
import { runFuzz, type FuzzReport } from '@colloquy/testing/fuzz';
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startColloquy } from '../servers/colloquy-process.js';

const { values: args } = parseArgs({
  options: { messages: { type: 'string', default: '20000' }, seed: { type: 'string', default: '12345' }, json: { type: 'string' } },
});
const messages = Number(args.messages);
const seed = Number(args.seed);
if (!Number.isInteger(messages) || messages < 1 || messages > 10_000_000) throw new Error('--messages must be an integer between 1 and 10,000,000');
if (!Number.isInteger(seed)) throw new Error('--seed must be an integer');

// The server's real limits (signal rate included): the fuzz must meet them as any client would.
const server = await startColloquy({ env: { COLLOQUY_SIGNAL_RATE: '20', COLLOQUY_SIGNAL_BURST: '50' } });
let crashed = false;
const alive = (): boolean => {
  try {
    process.kill(server.pid, 0);
    return true;
  } catch {
    return false;
  }
};
const sdk = new Colloquy(server.apiKey, server.apiSecret, server.url);
const rest = new RestClient({ kind: 'project', apiKey: server.apiKey, apiSecret: server.apiSecret }, { apiUrl: server.url });
let report: FuzzReport | undefined;
let failure: string | null = null;
try {
  report = await runFuzz(
    {
      url: server.url,
      apiKey: server.apiKey,
      restAuth: () => rest.authHeaders(),
      token: (sessionId, data) => sdk.generateToken(sessionId, { data, role: 'publisher' }),
    },
    {
      messages,
      seed,
      probeEvery: 500,
      progress: (done, r) => {
        if (done % 10_000 === 0) process.stderr.write(`... ${done} messages, ${r.serverErrors.length} 5xx, ${r.bystanderFailures} bystander failures\n`);
        if (!alive()) throw new Error('server process ended');
      },
    },
  );
} catch (err) {
  failure = (err as Error).message;
} finally {
  crashed = !alive();
  await server.stop();
}

const r = report;
console.log(`\nFuzz: ${r?.messages ?? 0} of ${messages} messages (seed ${seed})${r ? ` in ${r.seconds.toFixed(0)} s` : ''}`);
if (r) {
  console.log(`  REST ${r.rest} (statuses ${JSON.stringify(r.statuses)}), signaling ${r.signaling} on ${r.sockets} sockets (${r.cutOff} cut off by the server)`);
  console.log(`  crashes ${crashed ? 1 : 0}, 5xx ${r.serverErrors.length} (501 not offered: ${r.notImplemented}), unanswered ${r.unanswered}`);
  console.log(`  bystanders: ${r.probes} probes, ${r.bystanderFailures} failures`);
  for (const e of r.serverErrors.slice(0, 10)) console.log(`  5xx: ${e.method} ${e.path} -> ${e.status} ${e.body}`);
}
if (failure) console.log(`  stopped: ${failure}`);
if (args.json) writeFileSync(args.json, JSON.stringify({ seed, crashed, failure, ...r }, null, 2));
const ok = !crashed && !failure && r !== undefined && r.serverErrors.length === 0 && r.unanswered === 0 && r.bystanderFailures === 0;
process.exit(ok ? 0 : 1);
