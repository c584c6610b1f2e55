// Where the SFU's time goes at load: one publisher, N subscribers through the Colloquy server,
// then the V8 CPU profiler of the server process (through the bench server's control endpoint)
// for a few seconds; summarised as the top functions by self time and the share of each area.

import { summarizeProfile, type CpuProfile, type ProfileSummary } from '../lib/cpu-profile.js';
import { fmt } from '../lib/stats.js';
import type { LoadRun, ParticipantRef } from '../load/load-run.js';
import type { RunningTarget } from './targets.js';

export interface ProfileResult {
  scenario: string;
  forwardedPacketsPerSecond: number;
  summary: ProfileSummary;
}

export async function profileSfu(
  target: RunningTarget,
  run: LoadRun,
  options: { bitrate: string; subscribers: number; seconds: number; save?: (profile: CpuProfile) => void },
): Promise<ProfileResult> {
  if (!target.control) throw new Error('profiling needs the Colloquy bench server');
  const [session] = await run.createSessions(1, 2);
  const publisher = await run.join(session!, 10);
  const participants: ParticipantRef[] = [publisher];
  try {
    const streamId = await run.publish(publisher, options.bitrate);
    await Promise.all(
      Array.from({ length: options.subscribers }, async () => {
        const p = await run.join(session!);
        participants.push(p);
        await run.subscribe(p, streamId);
      }),
    );
    await new Promise((r) => setTimeout(r, 2000));
    await run.startWindow();
    await target.control.post('/profile/start', { intervalUs: 500 });
    await new Promise((r) => setTimeout(r, options.seconds * 1000));
    const profile = await target.control.post<CpuProfile>('/profile/stop');
    const window = await run.endWindow();
    options.save?.(profile);
    const summary = summarizeProfile(profile, 10);
    const scenario = `1 -> ${options.subscribers} at ${options.bitrate}, ${options.seconds} s`;
    process.stderr.write(`  profile ${scenario}: ${fmt(window.received.packetsPerSecond)} pkt/s forwarded; top: ${summary.functions.slice(0, 5).map((f) => `${f.name} ${fmt(f.percent, 1)}%`).join(', ')}\n`);
    return { scenario, forwardedPacketsPerSecond: window.received.packetsPerSecond, summary };
  } finally {
    await Promise.all(participants.map((p) => run.leave(p).catch(() => {})));
  }
}
