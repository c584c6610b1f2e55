// The impairment benchmark's healthy subscribers as load-tool clients (HEALTHY=load), instead of
// Chromium pages: one worker process (bench/load/worker.ts) holds them, each a participant of the
// session that subscribes to every stream with werift's light receive path and sends transport
// feedback as Chromium does (so the SFU estimates its downlink and shares it across its streams,
// probing included). It measures what arrives (whole frames, bytes, the picture width read from
// each keyframe, audio packets), not what a decoder makes of it. On this 2-core machine the three
// Chromium subscribers of the 3x4 size decode nine 720p streams and play nine audio streams: with
// them the limit's onsets read loads of 16–20, without them 4–10 (7 December 2026), and at 16–20
// the publishers' encoders, the limited subscriber's Chromium and the SFU all starve, where in the
// field each has a machine of its own.

import type { TargetSpec } from '../load/targets/target.js';
import { WorkerClient } from '../load/worker-client.js';
import type { SubscriptionSample } from '../load/worker-protocol.js';

export class LoadSubscribers {
  readonly #worker = new WorkerClient('impairment load subscribers');
  /** Subscription id → [participant, stream id]. */
  readonly #subscriptions = new Map<string, [string, string]>();

  static async start(target: Extract<TargetSpec, { kind: 'colloquy' }>, bindIp: string): Promise<LoadSubscribers> {
    const s = new LoadSubscribers();
    try {
      await s.#worker.request({ op: 'init', init: { target, bindIp, receiveMode: 'light', clips: {}, keyFrameMinIntervalMs: 200, transportCc: true, readFrameStarts: true } });
    } catch (err) {
      await s.close();
      throw err;
    }
    return s;
  }

  /** A participant `name` joins `session` and subscribes to every stream of `streams`. */
  async join(session: string, name: string, streams: readonly string[]): Promise<void> {
    await this.#worker.request({ op: 'join', participant: name, session, name });
    for (const streamId of streams) {
      const subscription = `${name}/${streamId}`;
      await this.#worker.request({ op: 'subscribe', participant: name, subscription, streamId });
      this.#subscriptions.set(subscription, [name, streamId]);
    }
  }

  /** Samples every subscription each `intervalMs` from now on. */
  async sample(intervalMs: number): Promise<void> {
    await this.#worker.request({ op: 'sample', intervalMs });
  }

  /** The samples of participant `name` since the last call, by stream id. */
  async take(name: string): Promise<Record<string, SubscriptionSample[]>> {
    const mine = [...this.#subscriptions].filter(([, [p]]) => p === name);
    const got = (await this.#worker.request({ op: 'samples', subscriptions: mine.map(([id]) => id) })) as Record<string, SubscriptionSample[]>;
    return Object.fromEntries(mine.map(([id, [, streamId]]) => [streamId, got[id] ?? []]));
  }

  close(): Promise<void> {
    return this.#worker.shutdown();
  }
}
