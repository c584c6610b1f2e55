// Waiting on a condition instead of a fixed sleep: polls until `check` gives a value (anything
// but undefined), or throws naming what was awaited once the time is up. For tests and benchmarks
// on loaded machines, where fixed sleeps are either flaky or slow.

export async function until<T>(check: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 60_000, intervalMs = 10): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
