// Messages between the load coordinator and its worker processes (child_process IPC, JSON).
// Participants and their peer connections live in workers; the coordinator decides who joins what
// and when, and adds up the figures.

import type { ClipFiles } from './clip.js';
import type { ReceiveMode } from './subscriber.js';
import type { TargetSpec } from './targets/target.js';

export interface WorkerInit {
  target: TargetSpec;
  /** The address clients bind for ICE. */
  bindIp: string;
  receiveMode: ReceiveMode;
  clips: Record<string, ClipFiles>;
  keyFrameMinIntervalMs: number;
  /** Subscribers send transport feedback as a browser does (light receive path; subscriber.ts). */
  transportCc?: boolean;
  /** Subscribers read each video frame's first packet (keyframes and width of a browser's stream). */
  readFrameStarts?: boolean;
}

/** One subscription's counters since it began, at one moment (the `samples` op), over its streams of each kind. */
export interface SubscriptionSample {
  /** Date.now() when taken. */
  at: number;
  /** Whole video frames, their bytes (with RTP headers), keyframes among them, and video packets missing. */
  videoFrames: number;
  videoBytes: number;
  keyFrames: number;
  videoLost: number;
  /** The width of the last keyframe read (readFrameStarts), 0 before. */
  width: number;
  audioPackets: number;
}

export type WorkerRequest =
  | { op: 'init'; init: WorkerInit }
  | { op: 'join'; participant: string; session: string; name: string; url?: string }
  | { op: 'publish'; participant: string; clip: string }
  | { op: 'subscribe'; participant: string; subscription: string; streamId: string }
  | { op: 'unsubscribe'; subscription: string }
  | { op: 'leave'; participant: string }
  | { op: 'window' }
  /** Samples every subscription each `intervalMs` from now on (a `samples` request takes them). */
  | { op: 'sample'; intervalMs: number }
  /** The samples taken since the last such request, by subscription id (only these subscriptions' when given). */
  | { op: 'samples'; subscriptions?: string[] }
  | { op: 'shutdown' };

export type WorkerRequestMessage = WorkerRequest & { re: number };

export type WorkerReply = { re: number; ok: true; result: unknown } | { re: number; ok: false; error: string };

export interface ReceiveCounters {
  packets: number;
  bytes: number;
  expected: number;
  frames: number;
}

export interface SendCounters {
  videoPackets: number;
  audioPackets: number;
  bytes: number;
  frames: number;
  keyFrames: number;
  keyFrameRequests: number;
  nacks: number;
  /** Frames and audio packets not sent because the process fell behind its schedule. */
  skipped: number;
}

/** What one worker saw between two `window` requests. */
export interface WorkerWindow {
  wallMs: number;
  /** This process's CPU time in the window (user + system), µs. */
  cpuUs: number;
  /** 99th percentile event-loop delay in the window, ms: high means the worker is saturated. */
  eventLoopP99Ms: number;
  publishers: number;
  subscriptions: number;
  video: ReceiveCounters;
  audio: ReceiveCounters;
  /** Packets of other payload types (retransmissions…). */
  otherPackets: number;
  sent: SendCounters;
  /** Frame latencies, ms (a bounded sample). */
  latencies: number[];
  /** Per received video stream: jitter (ms) and whole frames per second in the window. */
  videoJitterMs: number[];
  audioJitterMs: number[];
  fps: number[];
  /**
   * By subscription id: packets the sequence numbers say went missing in the window, % of expected
   * (video and audio together); 100 for a subscription that received no video at all in it.
   */
  subscriptionLossPercent: Record<string, number>;
  /** Streams and subscriptions the server ended on its own in the window, by "what: reason". */
  serverEnded: Record<string, number>;
  /** Publisher and subscriber peer connections not connected at the end of the window. */
  publishersDown: number;
  subscriptionsDown: number;
}

/** Sent by workers every second, unasked. */
export interface WorkerProgress {
  event: 'progress';
  cpuUs: number;
  rxPackets: number;
  rxBytes: number;
  rxExpected: number;
  txPackets: number;
  publishers: number;
  subscriptions: number;
  /** A few latencies of the last second, ms. */
  latencies: number[];
}

/** Sent when a subscription's first whole keyframe arrived: time from the subscribe request, ms. */
export interface WorkerFirstFrame {
  event: 'firstFrame';
  subscription: string;
  ms: number;
}
