// Replay protection (RFC 3711 §3.3.2): a sliding window over packet indexes (48-bit SRTP index or
// 31-bit SRTCP index). An index above the highest seen is new; within the window it is new unless
// its bit is set; below the window it is too old. Checked before, updated only after a packet
// authenticates, so forged packets cannot move the window.

/** Window size: RFC 3711 asks for at least 64; 128 like libsrtp, for video's bursty reordering. */
export const REPLAY_WINDOW_SIZE = 128;

export const ReplayCheck = { NEW: 0, REPLAYED: 1, TOO_OLD: 2 } as const;
export type ReplayCheck = (typeof ReplayCheck)[keyof typeof ReplayCheck];

export class ReplayWindow {
  /** Highest index accepted; -1 before the first. */
  #highest = -1;
  /** One flag per index modulo the window size. */
  readonly #seen = new Uint8Array(REPLAY_WINDOW_SIZE);

  get highest(): number {
    return this.#highest;
  }

  check(index: number): ReplayCheck {
    if (index > this.#highest) return ReplayCheck.NEW;
    if (this.#highest - index >= REPLAY_WINDOW_SIZE) return ReplayCheck.TOO_OLD;
    return this.#seen[index % REPLAY_WINDOW_SIZE] === 1 ? ReplayCheck.REPLAYED : ReplayCheck.NEW;
  }

  /** Marks an authenticated index as received (call only after check() said NEW). */
  accept(index: number): void {
    const highest = this.#highest;
    if (index > highest) {
      // Indexes skipped over are not received yet: clear their slots (all of them after a long jump).
      const clear = highest < 0 ? REPLAY_WINDOW_SIZE : Math.min(index - highest, REPLAY_WINDOW_SIZE);
      for (let i = 0; i < clear; i++) this.#seen[(index - i) % REPLAY_WINDOW_SIZE] = 0;
      this.#highest = index;
    }
    this.#seen[index % REPLAY_WINDOW_SIZE] = 1;
  }
}
