// One stream's audio as PCM: the stream's Opus producer on the SFU is tapped (Producer.addRtpListener,
// the same raw tap archiving records from), each packet decoded (opusscript, libopus in WebAssembly)
// to 48 kHz mono 16-bit PCM, optionally brought down to 8/16/24 kHz, and handed to the listener in
// arrival order (one call per packet: 20 ms from browsers). No jitter buffer: packets lost or late
// are simply absent. Users: SessionAudioMixer (SIP calls, the Audio Connector), live captions.

import OpusScript from 'opusscript';
import type { Stream } from '../sessions/session-manager.js';
import { downsampleFrom48k, pcmFromBuffer, type PcmRate } from './pcm.js';

export type PcmListener = (pcm: Int16Array) => void;

export class StreamAudioTap {
  readonly streamId: string;
  readonly sampleRate: PcmRate;
  readonly #decoder: OpusScript;
  readonly #unsubscribe: () => void;
  #closed = false;
  /** Packets decoded, and those the decoder refused. */
  readonly stats = { packets: 0, errors: 0 };

  private constructor(stream: Stream, sampleRate: PcmRate, listener: PcmListener) {
    this.streamId = stream.id;
    this.sampleRate = sampleRate;
    this.#decoder = new OpusScript(48000, 1, OpusScript.Application.VOIP);
    const producer = stream.producer('audio')!;
    this.#unsubscribe = producer.addRtpListener((packet) => {
      if (this.#closed || packet.payload.length === 0) return;
      let pcm48: Int16Array;
      try {
        pcm48 = pcmFromBuffer(this.#decoder.decode(packet.payload));
      } catch {
        this.stats.errors++;
        return;
      }
      this.stats.packets++;
      listener(downsampleFrom48k(pcm48, sampleRate));
    });
  }

  /**
   * Starts tapping `stream`'s audio; `listener` gets each packet's PCM at `sampleRate` (48000 by
   * default). Null when the stream has no Opus audio on the SFU (relayed session, video-only stream).
   */
  static open(stream: Stream, listener: PcmListener, options: { sampleRate?: PcmRate } = {}): StreamAudioTap | null {
    const producer = stream.producer('audio');
    if (!producer || producer.codec.name !== 'opus') return null;
    return new StreamAudioTap(stream, options.sampleRate ?? 48000, listener);
  }

  /** Stops the tap and frees the decoder (idempotent). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe();
    this.#decoder.delete();
  }
}
