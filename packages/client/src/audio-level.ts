// audioLevelUpdated for Publishers and Subscribers: a WebAudio analyser on the audio track, read
// on a timer only while someone listens for the event (and torn down when they stop), so a page
// that never asks pays nothing. One AudioContext for the whole SDK: browsers limit how many a page
// may hold.

let context: AudioContext | null = null;

function audioContext(): AudioContext | null {
  if (context) return context;
  const Ctor = (globalThis as { AudioContext?: typeof AudioContext }).AudioContext;
  if (!Ctor) return null;
  context = new Ctor();
  return context;
}

/** How often levels are dispatched (OpenTok.js dispatches several per second). */
export const AUDIO_LEVEL_INTERVAL_MS = 80;

export class AudioLevelMeter {
  readonly #getTrack: () => MediaStreamTrack | null;
  readonly #onLevel: (level: number) => void;
  readonly #wanted: () => boolean;
  #timer: ReturnType<typeof setInterval> | undefined;
  #source: MediaStreamAudioSourceNode | null = null;
  #analyser: AnalyserNode | null = null;
  #track: MediaStreamTrack | null = null;
  #buffer: Float32Array<ArrayBuffer> | null = null;
  #smoothed = 0;

  /**
   * `wanted` says whether anyone listens now (checked every tick, so adding a handler later starts
   * the meter within a tick and removing the last one stops it).
   */
  constructor(getTrack: () => MediaStreamTrack | null, wanted: () => boolean, onLevel: (level: number) => void) {
    this.#getTrack = getTrack;
    this.#wanted = wanted;
    this.#onLevel = onLevel;
  }

  start(): void {
    this.#timer ??= setInterval(() => this.#tick(), AUDIO_LEVEL_INTERVAL_MS);
  }

  #tick(): void {
    if (!this.#wanted()) {
      this.#detach();
      return;
    }
    const track = this.#getTrack();
    if (track !== this.#track) {
      this.#detach();
      if (track && track.readyState === 'live') this.#attach(track);
    }
    const analyser = this.#analyser;
    if (!analyser || !this.#buffer) {
      this.#onLevel(0);
      return;
    }
    analyser.getFloatTimeDomainData(this.#buffer);
    let peak = 0;
    for (const v of this.#buffer) peak = Math.max(peak, Math.abs(v));
    // A disabled track (publishAudio(false)) delivers silence, so the level falls to 0 by itself.
    this.#smoothed = Math.max(peak, this.#smoothed * 0.7);
    this.#onLevel(Math.min(1, this.#smoothed));
  }

  #attach(track: MediaStreamTrack): void {
    const ctx = audioContext();
    if (!ctx) return;
    if (ctx.state === 'suspended') void ctx.resume().catch(() => {});
    this.#track = track;
    this.#source = ctx.createMediaStreamSource(new MediaStream([track]));
    this.#analyser = ctx.createAnalyser();
    this.#analyser.fftSize = 512;
    this.#buffer = new Float32Array(new ArrayBuffer(this.#analyser.fftSize * 4));
    this.#source.connect(this.#analyser);
  }

  #detach(): void {
    this.#source?.disconnect();
    this.#source = null;
    this.#analyser = null;
    this.#buffer = null;
    this.#track = null;
    this.#smoothed = 0;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#detach();
  }
}
