// What grew between two V8 heap snapshots, by kind of object (node type and constructor or name):
// the answer to "is this heap growth a leak of ours, or V8's own caches?".

import { readFileSync } from 'node:fs';

export interface HeapGrowth {
  /** "object: Consumer", "code: (code deopt data)", "string: …" (names cut to 60 characters). */
  kind: string;
  count: number;
  bytes: number;
}

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

function byKind(file: string): Map<string, { count: number; bytes: number }> {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const width = fields.length;
  const type = fields.indexOf('type');
  const name = fields.indexOf('name');
  const size = fields.indexOf('self_size');
  const types = snap.snapshot.meta.node_types[0];
  const kinds = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const t = types[snap.nodes[i + type]!] ?? '?';
    // Strings are named by their content: group them, they are data, not kinds.
    const n = t === 'string' || t === 'concatenated string' || t === 'sliced string' ? '(strings)' : (snap.strings[snap.nodes[i + name]!] ?? '').slice(0, 60);
    const key = `${t}: ${n}`;
    const k = kinds.get(key) ?? { count: 0, bytes: 0 };
    k.count++;
    k.bytes += snap.nodes[i + size]!;
    kinds.set(key, k);
  }
  return kinds;
}

/** The kinds that grew most (bytes) from snapshot `before` to snapshot `after`. */
export function heapGrowth(before: string, after: string, top = 8): HeapGrowth[] {
  const a = byKind(before);
  const b = byKind(after);
  return [...b]
    .map(([kind, v]) => ({ kind, count: v.count - (a.get(kind)?.count ?? 0), bytes: v.bytes - (a.get(kind)?.bytes ?? 0) }))
    .sort((x, y) => y.bytes - x.bytes)
    .slice(0, top);
}
