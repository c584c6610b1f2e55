// Login rate limit. Every attempt counts when it starts (so parallel guesses cannot slip through
// while scrypt runs) and a success clears the address's record. Past `maxAttempts` in `windowMs`
// an address is locked out, for twice as long at each new lockout (1 min, 2, 4 ... 1 h). A global
// ceiling bounds guessing from many addresses (and the CPU scrypt costs).

export interface LoginLimiterOptions {
  maxAttempts?: number;
  windowMs?: number;
  baseLockMs?: number;
  maxLockMs?: number;
  /** Attempts per window from all addresses together. */
  globalMaxAttempts?: number;
  /** Addresses remembered at most (oldest forgotten first). */
  maxEntries?: number;
  now?: () => number;
}

interface Entry {
  attempts: number[];
  lockedUntil: number;
  lockouts: number;
  lastLockAt: number;
}

export type LimitDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export class LoginLimiter {
  readonly #entries = new Map<string, Entry>();
  readonly #global: number[] = [];
  readonly #o: Required<Omit<LoginLimiterOptions, 'now'>>;
  readonly #now: () => number;

  constructor(options: LoginLimiterOptions = {}) {
    this.#o = {
      maxAttempts: options.maxAttempts ?? 5,
      windowMs: options.windowMs ?? 60_000,
      baseLockMs: options.baseLockMs ?? 60_000,
      maxLockMs: options.maxLockMs ?? 3_600_000,
      globalMaxAttempts: options.globalMaxAttempts ?? 100,
      maxEntries: options.maxEntries ?? 10_000,
    };
    this.#now = options.now ?? Date.now;
  }

  /** Registers an attempt from `ip`, or refuses it. */
  attempt(ip: string): LimitDecision {
    const now = this.#now();
    const o = this.#o;
    while (this.#global.length > 0 && this.#global[0]! <= now - o.windowMs) this.#global.shift();
    let e = this.#entries.get(ip);
    if (e && e.lockedUntil > now) return { allowed: false, retryAfterSeconds: Math.ceil((e.lockedUntil - now) / 1000) };
    if (this.#global.length >= o.globalMaxAttempts) {
      return { allowed: false, retryAfterSeconds: Math.ceil((this.#global[0]! + o.windowMs - now) / 1000) };
    }
    if (!e) {
      if (this.#entries.size >= o.maxEntries) this.#entries.delete(this.#entries.keys().next().value!);
      e = { attempts: [], lockedUntil: 0, lockouts: 0, lastLockAt: 0 };
      this.#entries.set(ip, e);
    }
    // A long quiet spell forgives earlier lockouts.
    if (e.lockouts > 0 && now - e.lastLockAt > o.maxLockMs * 2) e.lockouts = 0;
    e.attempts = e.attempts.filter((t) => t > now - o.windowMs);
    if (e.attempts.length >= o.maxAttempts) {
      const lock = Math.min(o.maxLockMs, o.baseLockMs * 2 ** e.lockouts);
      e.lockouts++;
      e.lastLockAt = now;
      e.lockedUntil = now + lock;
      e.attempts = [];
      return { allowed: false, retryAfterSeconds: Math.ceil(lock / 1000) };
    }
    e.attempts.push(now);
    this.#global.push(now);
    return { allowed: true };
  }

  /** A correct password: the address starts afresh. */
  succeeded(ip: string): void {
    this.#entries.delete(ip);
  }
}
