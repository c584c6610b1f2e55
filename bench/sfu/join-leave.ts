// Memory over join/leave cycles with media, through the whole server: in each cycle a participant
// joins (token, signaling), publishes VP8 + Opus, a resident participant subscribes to it and waits
// for its first frame, then unsubscribes and the publisher leaves. Several cycles run at once; at
// checkpoints the server's heap (after a full GC), its open sockets, connections and SFU transports.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { heapGrowth } from '../lib/heap-snapshot.js';
import { fmt } from '../lib/stats.js';
import type { ClipSpec } from '../load/clip.js';
import { LoadRun, type ParticipantRef } from '../load/load-run.js';
import type { JoinLeaveResult } from '../signaling/signaling-suite.js';
import { serverCheckpoint, startColloquy } from '../servers/colloquy-process.js';

const CLIP: ClipSpec = { width: 320, height: 180, bitrate: 300_000, fps: 30, seconds: 10 };

/**
 * One media join/leave cycle: a participant joins `session`, publishes `clip`, `resident`
 * subscribes and waits for the first frame, unsubscribes, the publisher leaves. Returns whether a
 * first frame came within 5 s. Also the soak's media churn (soak/soak.bench.ts).
 */
export async function mediaCycle(run: LoadRun, session: string, resident: ParticipantRef, clip: string): Promise<boolean> {
  const publisher = await run.join(session);
  try {
    const streamId = await run.publish(publisher, clip);
    const { subscription } = await run.subscribe(resident, streamId);
    const frame = await run.waitFirstFrame(subscription, 5000);
    await run.unsubscribe(resident, subscription);
    return frame !== null;
  } finally {
    await run.leave(publisher);
  }
}

export async function runMediaJoinLeave(
  cycles: number,
  checkpoints: number[],
  options: { bindIp: string; parallel: number; workers: number },
): Promise<JoinLeaveResult> {
  // Twelve cycles at once keep this 2-core machine's server near a full core: its overload guard
  // (CPU over 95 % or event-loop lag over 250 ms, 3 s in a row) would refuse publishes and
  // subscriptions, as it should, and end the run. This run measures memory over churn, not admission.
  const server = await startColloquy({ mediaIp: options.bindIp, env: { COLLOQUY_OVERLOAD_CPU: '0', COLLOQUY_OVERLOAD_LAG_MS: '0' } });
  const run = await LoadRun.start({
    target: { kind: 'colloquy', url: server.url, apiKey: server.apiKey, apiSecret: server.apiSecret },
    workers: options.workers,
    bindIp: options.bindIp,
    clips: { small: CLIP },
    concurrency: options.parallel * 2,
  });
  try {
    const [session] = await run.createSessions(1);
    const resident = await run.join(session!);
    const points: JoinLeaveResult['checkpoints'] = [];
    let noFrame = 0;
    const checkpoint = async (cycle: number): Promise<void> => {
      points.push(await serverCheckpoint(server, cycle, 500)); // closing sockets and timers finish
    };
    const cycle = async (): Promise<void> => {
      if (!(await mediaCycle(run, session!, resident, 'small'))) noFrame++;
    };
    await checkpoint(0);
    // Heap snapshots after warm-up and at the end say what any growth is made of.
    const snapshots = mkdtempSync(join(tmpdir(), 'colloquy-bench-heap-'));
    const warmCycle = Math.min(100, Math.floor(cycles / 10));
    let warmSnapshot: string | null = null;
    const started = performance.now();
    const marks = [...new Set([...checkpoints.filter((c) => c <= cycles), warmCycle, cycles])].sort((a, b) => a - b);
    let done = 0;
    for (const mark of marks) {
      // Run up to the checkpoint with `parallel` cycles in flight.
      const lanes = Array.from({ length: Math.min(options.parallel, mark - done) }, async () => {
        while (done < mark) {
          done++;
          await cycle();
        }
      });
      await Promise.all(lanes);
      if (!points.some((p) => p.cycle === mark)) await checkpoint(mark);
      if (mark === warmCycle) {
        warmSnapshot = join(snapshots, 'warm.heapsnapshot');
        await server.controlPost('/heap-snapshot', { path: warmSnapshot });
      }
    }
    const seconds = (performance.now() - started) / 1000;
    const warm = points.find((p) => p.cycle >= Math.min(100, cycles / 10)) ?? points[0]!;
    await server.controlPost('/heap-snapshot', { path: join(snapshots, 'end.heapsnapshot') });
    const growth0 = warmSnapshot ? heapGrowth(warmSnapshot, join(snapshots, 'end.heapsnapshot')) : [];
    rmSync(snapshots, { recursive: true, force: true });
    const end = points[points.length - 1]!;
    const growth = end.cycle > warm.cycle ? ((end.heapMB - warm.heapMB) * 1048576) / (end.cycle - warm.cycle) : NaN;
    process.stderr.write(
      `  ${cycles} media join/leave cycles in ${fmt(seconds, 1)} s; heap ${fmt(points[0]!.heapMB, 1)} -> ${fmt(end.heapMB, 1)} MB ` +
        `(${fmt(growth)} B/cycle after warm-up), transports at the end ${end.transports}${noFrame ? `, ${noFrame} cycles without a first frame` : ''}\n`,
    );
    return {
      cycles,
      checkpoints: points,
      heapGrowthPerCycleBytes: growth,
      heapGrowthByKind: growth0,
      seconds,
      what:
        `with media: a participant joins, publishes VP8 + Opus (320x180), a resident participant subscribes and waits for the first frame, ` +
        `unsubscribes, the publisher leaves; ${options.parallel} cycles at once` + (noFrame ? `; ${noFrame} cycles saw no frame within 5 s` : ''),
    };
  } finally {
    await run.close();
    await server.stop();
  }
}
