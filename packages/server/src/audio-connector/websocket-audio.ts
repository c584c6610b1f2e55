// One Audio Connector WebSocket's media, both ways, as OpenTok's Audio Connector speaks it:
// - first a text message, JSON: `{"content-type": "audio/l16;rate=<audioRate>", ...headers}` (the
//   request's `headers` as fields);
// - then session -> socket: the selected streams (all when none named) mixed by a SessionAudioMixer
//   into one feed, one binary message per 20 ms: 16-bit little-endian linear PCM, mono, audioRate
//   (640 bytes at 16 kHz, 320 at 8 kHz);
// - bidirectional: binary messages from the socket (the same format, any length) are queued and
//   played into the session on the same 20 ms clock through the connector's own stream
//   (SessionPublisher: Opus), silence when the queue is empty. A socket that sends faster than real
//   time (text-to-speech dumps) is played at real time, up to MAX_PLAYOUT_SECONDS queued. Underruns
//   must not become latency: silence played while the socket is talking (its audio is a little
//   late: timer jitter) or on the frames the clock catches up after a stall of this server's event
//   loop is "owed" (up to OWED_FRAMES), and the audio that then arrives is played at once to make up
//   for it. Silence while the socket is quiet (a pause) is not owed.
// A socket that cannot take the audio as fast as it comes (its send buffer above one second) loses
// frames rather than growing the server's memory.

import type WebSocket from 'ws';
import type { Logger } from '../logger.js';
import { FRAME_48K, SessionAudioMixer, upsampleTo48k, type PcmRate, type SessionPublisher } from '../session-audio/index.js';
import type { SessionManager } from '../sessions/session-manager.js';

/** Audio the socket may send ahead of real time (bidirectional), in seconds. */
const MAX_PLAYOUT_SECONDS = 60;
/** Silent frames played for want of audio (late, not paused) that audio arriving later may make up for at once (5 s). */
const OWED_FRAMES = 250;
/** A frame handed out this much after its due time (ms) is the clock catching up after a stall. */
const LATE_MS = 20;
/** The socket counts as talking for this long (ms) after its last audio. */
const TALKING_MS = 200;

export type AudioRate = 8000 | 16000 | 24000;

export interface WebSocketAudioStats {
  /** Binary 20 ms frames sent to the socket, and those dropped because it did not keep up. */
  framesSent: number;
  framesDropped: number;
  /** Bidirectional: PCM bytes received, 20 ms frames played into the session, bytes dropped (queue full). */
  bytesReceived: number;
  framesPlayed: number;
  bytesDropped: number;
  /** Bidirectional: audio from the socket waiting to be played, in ms. */
  queuedMs: number;
  /** Frames the 20 ms clock skipped after stalls of the event loop (neither sent nor played). */
  clockSkips: number;
}

/** OpenTok's first message on the socket: the audio format, and the request's headers as fields. */
export function initialMessage(audioRate: AudioRate, headers: Record<string, string>): string {
  const message: Record<string, string> = { 'content-type': `audio/l16;rate=${audioRate}` };
  for (const [name, value] of Object.entries(headers)) if (name.toLowerCase() !== 'content-type') message[name] = value;
  return JSON.stringify(message);
}

export class WebSocketAudio {
  readonly #ws: WebSocket;
  readonly #rate: AudioRate;
  readonly #frameSamples: number;
  readonly #mixer: SessionAudioMixer;
  readonly #publisher: SessionPublisher | null;
  /** Bidirectional: PCM from the socket waiting to be played (little-endian bytes). */
  #inbound: Buffer[] = [];
  #inboundBytes = 0;
  #skipsPlayed = 0;
  #owed = 0;
  #lastAudioAt = -Infinity;
  #closed = false;
  readonly stats: WebSocketAudioStats = { framesSent: 0, framesDropped: 0, bytesReceived: 0, framesPlayed: 0, bytesDropped: 0, queuedMs: 0, clockSkips: 0 };

  constructor(params: {
    ws: WebSocket;
    sessions: SessionManager;
    sessionId: string;
    /** The streams to send; null: every stream of the session. */
    streams: readonly string[] | null;
    audioRate: AudioRate;
    /** Bidirectional: the connector's stream (left out of the mix) and its publisher. */
    own: { streamId: string; publisher: SessionPublisher } | null;
    logger: Logger;
  }) {
    this.#ws = params.ws;
    this.#rate = params.audioRate;
    this.#frameSamples = params.audioRate / 50;
    this.#publisher = params.own?.publisher ?? null;
    this.#mixer = new SessionAudioMixer({
      sessions: params.sessions,
      sessionId: params.sessionId,
      streams: params.streams,
      exclude: params.own ? [params.own.streamId] : [],
      sampleRate: params.audioRate as PcmRate,
      // A WebSocket (a transcriber, a bot) wants every frame more than it wants them on time: after
      // a stall of up to a second the frames missed are sent at once rather than skipped.
      maxCatchUpMs: 1000,
      onFrame: (pcm, lateMs) => this.#onFrame(pcm, lateMs),
      logger: params.logger,
    });
    if (this.#publisher) {
      this.#ws.on('message', (data, isBinary) => {
        if (isBinary) this.#receive(toBuffer(data));
      });
    }
  }

  start(): void {
    this.#mixer.start();
  }

  /** The counters, with the queue's length and the clock's skips now. */
  get currentStats(): WebSocketAudioStats {
    return { ...this.stats, queuedMs: (this.#inboundBytes / 2 / this.#rate) * 1000, clockSkips: this.#mixer.stats.skipped };
  }

  /** Stream ids being sent now. */
  get streamIds(): string[] {
    return this.#mixer.streamIds;
  }

  #onFrame(pcm: Int16Array, lateMs: number): void {
    if (this.#closed) return;
    this.#send(pcm);
    if (!this.#publisher) return;
    // Frames the clock skipped after a longer stall are played too (a burst of RTP whose timestamps
    // still say 20 ms apart), so the socket's audio is not left behind wall time for good.
    const skipped = this.#mixer.stats.skipped - this.#skipsPlayed;
    this.#skipsPlayed += skipped;
    for (let i = 0; i < skipped; i++) this.#play(true);
    this.#play(lateMs > LATE_MS);
  }

  #send(pcm: Int16Array): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    // One second of audio already waiting in the socket: the far end does not keep up.
    if (this.#ws.bufferedAmount > this.#rate * 2) {
      this.stats.framesDropped++;
      return;
    }
    const bytes = Buffer.allocUnsafe(pcm.length * 2);
    for (let i = 0; i < pcm.length; i++) bytes.writeInt16LE(pcm[i]!, i * 2);
    this.#ws.send(bytes, { binary: true });
    this.stats.framesSent++;
  }

  #receive(data: Buffer): void {
    this.stats.bytesReceived += data.length;
    if (this.#inboundBytes + data.length > MAX_PLAYOUT_SECONDS * this.#rate * 2) {
      this.stats.bytesDropped += data.length;
      return;
    }
    this.#inbound.push(data);
    this.#inboundBytes += data.length;
    this.#lastAudioAt = performance.now();
  }

  /** One 20 ms frame of the playout: the socket's audio (silence when none), and what is owed. */
  #play(late: boolean): void {
    if (!this.#playFrame()) {
      this.#publisher!.sendPcm(new Int16Array(FRAME_48K));
      if (late || performance.now() - this.#lastAudioAt < TALKING_MS) this.#owed = Math.min(OWED_FRAMES, this.#owed + 1);
      return;
    }
    while (this.#owed > 0 && this.#playFrame()) this.#owed--;
  }

  /** Plays one queued 20 ms frame into the session; false when less than a frame is queued. */
  #playFrame(): boolean {
    const need = this.#frameSamples * 2;
    if (this.#inboundBytes < need) return false;
    const bytes = this.#take(need);
    const frame = new Int16Array(this.#frameSamples);
    for (let i = 0; i < frame.length; i++) frame[i] = bytes.readInt16LE(i * 2);
    this.#publisher!.sendPcm(upsampleTo48k(frame, this.#rate as PcmRate));
    this.stats.framesPlayed++;
    return true;
  }

  #take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.#inbound[0]!;
      const take = Math.min(head.length, n - filled);
      head.copy(out, filled, 0, take);
      filled += take;
      if (take === head.length) this.#inbound.shift();
      else this.#inbound[0] = head.subarray(take);
    }
    this.#inboundBytes -= n;
    return out;
  }

  /** Stops the mix and the playout (the socket and the publisher are the connector's to close). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#mixer.close();
    this.#inbound = [];
    this.#inboundBytes = 0;
  }
}

function toBuffer(data: WebSocket.RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}
