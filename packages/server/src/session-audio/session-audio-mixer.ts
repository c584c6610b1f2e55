// A session's audio mixed into one feed on a 20 ms clock: every stream of the session (or only the
// named ones), minus the excluded (the listener's own stream), each tapped by a StreamAudioTap at
// 48 kHz and queued; for every 20 ms of wall time the queues' heads are summed (clipped to 16 bits) into
// one frame, brought to the output rate and handed to `onFrame`. Silence when nothing is queued, so
// the far end gets a steady 50 frames a second whatever the session does. Streams published after
// the start join the mix, streams that end leave it. Users: SIP calls (to the phone), the Audio
// Connector (to the WebSocket).

import type { Logger } from '../logger.js';
import type { Session, SessionManager, Stream } from '../sessions/session-manager.js';
import { downsampleFrom48k, FRAME_48K, type PcmRate } from './pcm.js';
import { StreamAudioTap } from './stream-audio-tap.js';


export interface SessionAudioMixerOptions {
  sessions: SessionManager;
  sessionId: string;
  /** Only these stream ids are mixed; null: every stream of the session. */
  streams: readonly string[] | null;
  /** Streams never mixed (the listener's own stream, whose audio it must not hear back). */
  exclude?: readonly string[];
  /** The rate of the frames handed to `onFrame` (48000 by default): 20 ms is rate / 50 samples. */
  sampleRate?: PcmRate;
  /**
   * After a stall of the event loop, how much audio the clock hands out at once to catch up (100 ms
   * by default: 5 frames, as a phone's jitter buffer takes); beyond that it skips ahead (those
   * frames are counted in `stats.skipped`, never handed out). Each stream's queue holds twice this
   * (at least 200 ms); older audio is dropped, so latency stays bounded.
   */
  maxCatchUpMs?: number;
  /**
   * One 20 ms frame of the mix, every 20 ms. `lateMs`: how long after its due time the frame is
   * handed out (under 10 ms normally; more when catching up after a stall). A throw is logged; the
   * clock goes on.
   */
  onFrame: (pcm: Int16Array, lateMs: number) => void;
  logger: Logger;
}

interface Source {
  tap: StreamAudioTap;
  queue: Int16Array[];
  queued: number;
}

export class SessionAudioMixer {
  readonly #options: SessionAudioMixerOptions;
  readonly #streams: Set<string> | null;
  readonly #exclude: Set<string>;
  readonly #sampleRate: PcmRate;
  readonly #maxCatchUp: number;
  readonly #maxQueue: number;
  readonly #sources = new Map<string, Source>();
  #stopWatch: (() => void) | null = null;
  #timer: NodeJS.Timeout | undefined;
  #clockStart = 0;
  #framesSent = 0;
  #closed = false;
  /** Frames handed out, and those the clock skipped after a long stall. */
  readonly stats = { frames: 0, skipped: 0 };

  constructor(options: SessionAudioMixerOptions) {
    this.#options = options;
    this.#streams = options.streams ? new Set(options.streams) : null;
    this.#exclude = new Set(options.exclude ?? []);
    this.#sampleRate = options.sampleRate ?? 48000;
    this.#maxCatchUp = Math.max(1, Math.round((options.maxCatchUpMs ?? 100) / 20));
    this.#maxQueue = Math.max(10, this.#maxCatchUp * 2) * FRAME_48K;
  }

  /** Stream ids being mixed now. */
  get streamIds(): string[] {
    return [...this.#sources.keys()];
  }

  /** Taps the session's live streams, follows streams coming and going, and starts the clock. */
  start(): void {
    if (this.#closed || this.#timer) return;
    const { sessions, sessionId } = this.#options;
    const session = sessions.live(sessionId);
    if (session) for (const stream of session.streams.values()) if (stream.live && !stream.closed) this.#add(stream);
    this.#stopWatch = sessions.observeSessions({
      streamCreated: (s: Session, stream: Stream) => {
        if (s.id === sessionId) this.#add(stream);
      },
      streamDestroyed: (s: Session, stream: Stream) => {
        if (s.id === sessionId) this.#remove(stream.id);
      },
    });
    this.#clockStart = performance.now();
    // A 10 ms timer for a 20 ms frame: each tick sends what wall time says is due, so timer jitter
    // moves a frame by at most 10 ms and never accumulates.
    this.#timer = setInterval(() => this.#tick(), 10);
  }

  #add(stream: Stream): void {
    if (this.#closed || this.#sources.has(stream.id) || this.#exclude.has(stream.id)) return;
    if (this.#streams && !this.#streams.has(stream.id)) return;
    const source: Source = { tap: null as unknown as StreamAudioTap, queue: [], queued: 0 };
    const tap = StreamAudioTap.open(stream, (pcm) => {
      source.queue.push(pcm);
      source.queued += pcm.length;
      while (source.queued > this.#maxQueue && source.queue.length > 1) source.queued -= source.queue.shift()!.length;
    });
    if (!tap) return;
    source.tap = tap;
    this.#sources.set(stream.id, source);
  }

  #remove(streamId: string): void {
    const source = this.#sources.get(streamId);
    if (!source) return;
    source.tap.close();
    this.#sources.delete(streamId);
  }

  #tick(): void {
    if (this.#closed) return;
    const now = performance.now();
    const due = Math.floor((now - this.#clockStart) / 20);
    let budget = this.#maxCatchUp;
    while (this.#framesSent < due && budget-- > 0) {
      const frame = this.#mixFrame();
      this.#framesSent++;
      this.stats.frames++;
      try {
        // Frame n (from 1) is due at clockStart + 20 n.
        this.#options.onFrame(frame, now - this.#clockStart - this.#framesSent * 20);
      } catch (err) {
        // One bad frame must not stop the clock.
        this.#options.logger.warn({ err }, 'mixed audio frame failed');
      }
      if (this.#closed) return;
    }
    if (this.#framesSent < due) {
      // Fell far behind (a long stall): skip, never burst.
      this.stats.skipped += due - this.#framesSent;
      this.#framesSent = due;
    }
  }

  #mixFrame(): Int16Array {
    const mix = new Int32Array(FRAME_48K);
    for (const source of this.#sources.values()) {
      let filled = 0;
      while (filled < FRAME_48K && source.queue.length > 0) {
        const head = source.queue[0]!;
        const take = Math.min(head.length, FRAME_48K - filled);
        for (let i = 0; i < take; i++) mix[filled + i]! += head[i]!;
        filled += take;
        if (take === head.length) source.queue.shift();
        else source.queue[0] = head.subarray(take);
        source.queued -= take;
      }
    }
    const pcm48 = new Int16Array(FRAME_48K);
    for (let i = 0; i < FRAME_48K; i++) pcm48[i] = Math.max(-32768, Math.min(32767, mix[i]!));
    return downsampleFrom48k(pcm48, this.#sampleRate);
  }

  /** Stops the clock and every tap (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#stopWatch?.();
    for (const id of [...this.#sources.keys()]) this.#remove(id);
  }
}
