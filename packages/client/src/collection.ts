// OT.publishers and OT.subscribers: live views of the page's Publishers and Subscribers with
// OpenTok.js's collection methods — find and where take a predicate or an object of properties
// to match (e.g. `OT.subscribers.where({stream})`), and length() counts.

/** What find/where take: a predicate, or properties every match has (compared with ===). */
export type CollectionFilter<T> = ((item: T) => boolean) | Partial<Record<keyof T & string, unknown>>;

export class ObjectCollection<T extends object> {
  readonly #items: () => Iterable<T>;

  /** @internal */
  constructor(items: () => Iterable<T>) {
    this.#items = items;
  }

  /** How many there are now. */
  length(): number {
    return [...this.#items()].length;
  }

  /** The first one that matches (every one without a filter: the first). */
  find(filter?: CollectionFilter<T>, context?: unknown): T | undefined {
    const test = matcher(filter, context);
    for (const item of this.#items()) if (test(item)) return item;
    return undefined;
  }

  /** All that match, in the order they were made. */
  where(filter?: CollectionFilter<T>, context?: unknown): T[] {
    return [...this.#items()].filter(matcher(filter, context));
  }

  forEach(callback: (item: T) => void, context?: unknown): void {
    for (const item of [...this.#items()]) callback.call(context, item);
  }

  /** Whether one with this id is there. */
  has(id: string): boolean {
    return this.get(id) !== undefined;
  }

  /** The one with this id. */
  get(id: string): T | undefined {
    return this.find((item) => (item as { id?: unknown }).id === id);
  }
}

function matcher<T extends object>(filter: CollectionFilter<T> | undefined, context: unknown): (item: T) => boolean {
  if (filter === undefined || filter === null) return () => true;
  if (typeof filter === 'function') return (item) => filter.call(context, item) === true;
  const entries = Object.entries(filter);
  return (item) => entries.every(([key, value]) => (item as Record<string, unknown>)[key] === value);
}
