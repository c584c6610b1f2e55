// Where the time goes, from a V8 CPU profile (node --cpu-prof, or the inspector's Profiler): self
// time per function (samples x their time deltas), and per area of code (our media engine,
// werift's SRTP/DTLS/ICE, Node's UDP and crypto, GC).

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }; hitCount?: number; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface FunctionTime {
  name: string;
  /** Short location: file:line (1-based), or the pseudo-frame's name. */
  where: string;
  area: string;
  selfMs: number;
  /** Share of the busy (non-idle) samples, %. */
  percent: number;
}

export interface ProfileSummary {
  durationMs: number;
  busyMs: number;
  functions: FunctionTime[];
  areas: { area: string; selfMs: number; percent: number }[];
}

const bundleMaps = new Map<string, { line: number; module: string }[] | null>();

/**
 * werift ships one bundled ESM file; its `// ../rtp/src/srtp/srtp.ts` comments say where each
 * module starts, so a line number names the werift module (rtp/srtp, dtls/record, src/media…).
 */
function weriftModuleAt(url: string, line: number): string | null {
  let map = bundleMaps.get(url);
  if (map === undefined) {
    map = null;
    try {
      const text = readFileSync(fileURLToPath(url), 'utf8').split('\n');
      map = [];
      for (let i = 0; i < text.length; i++) {
        const m = /^\/\/ (?:\.\.\/([a-z-]+)\/)?src\/([A-Za-z-]+)/.exec(text[i]!);
        if (m) map.push({ line: i, module: m[1] ? `${m[1]}/${m[2]}` : `webrtc/${m[2]}` });
      }
    } catch {
      map = null;
    }
    bundleMaps.set(url, map);
  }
  if (!map) return null;
  let found: string | null = null;
  for (const entry of map) {
    if (entry.line > line) break;
    found = entry.module;
  }
  return found;
}

/** A coarse label for a script URL: which part of the stack a function belongs to. */
export function areaOf(url: string, name: string, line = 0): string {
  if (name === '(garbage collector)') return 'GC';
  if (name === '(program)') return 'V8/native (program)';
  if (name === '(idle)') return 'idle';
  if (!url) return 'native';
  if (url.startsWith('node:')) {
    const mod = url.slice(5).replace(/^internal\//, '');
    if (mod.startsWith('dgram') || mod.includes('udp')) return 'node: UDP (dgram)';
    if (mod.startsWith('crypto')) return 'node: crypto';
    if (mod.startsWith('buffer') || mod.startsWith('util')) return 'node: Buffer';
    if (mod.includes('timers')) return 'node: timers';
    return `node: ${mod.split('/')[0]}`;
  }
  const werift = /werift\/lib\/(?:([a-z-]+)\/src\/([a-zA-Z-]+)|index\.mjs)/.exec(url);
  if (werift) {
    if (werift[1]) return `werift ${werift[1]}/${werift[2]}`;
    const module = url.startsWith('file:') ? weriftModuleAt(url, line) : null;
    return module ? `werift ${module}` : 'werift';
  }
  const sfu = /packages\/sfu\/(?:dist|src)\/(?:([a-z-]+)\/)?/.exec(url);
  if (sfu) return sfu[1] ? `colloquy sfu/${sfu[1]}` : 'colloquy sfu';
  const ours = /packages\/server\/(?:dist|src)\/([a-z-]+)\//.exec(url);
  if (ours) return `colloquy ${ours[1]}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1]!;
  return 'other';
}

/**
 * A call into the SFU's native module (packages/sfu/native), named by its JavaScript caller: V8's
 * profiler labels every N-API function with one name of the module's (they share one trampoline),
 * so the label says nothing and the caller says which call it was.
 */
function nativeModuleCall(callerUrl: string, callerName: string): { name: string; area: string } | null {
  const m = /packages\/sfu\/(?:dist|src)\/(srtp\/[a-z-]+|srtp-path|udp-send-batch)\.[jt]s/.exec(callerUrl);
  if (!m) return null;
  if (m[1] === 'srtp-path') return { name: `native sendto (from ${callerName || '(anonymous)'})`, area: 'native module: UDP send' };
  if (m[1] === 'udp-send-batch') return { name: `native sendmmsg (from ${callerName || '(anonymous)'})`, area: 'native module: UDP send' };
  return { name: `native ${m[1]!.slice(5)} (from ${callerName || '(anonymous)'})`, area: 'native module: crypto' };
}

function shortWhere(url: string, line: number, name: string): string {
  if (!url) return name;
  const file = url.replace(/^file:\/\//, '').split('/').slice(-2).join('/');
  return `${file}:${line + 1}`;
}

export function summarizeProfile(profile: CpuProfile, top = 10): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  if (profile.samples && profile.timeDeltas) {
    // A sample's time is the delta to the next sample.
    for (let i = 0; i < profile.samples.length; i++) {
      const dt = profile.timeDeltas[i + 1] ?? 0;
      selfUs.set(profile.samples[i]!, (selfUs.get(profile.samples[i]!) ?? 0) + Math.max(0, dt));
    }
  } else {
    const interval = (profile.endTime - profile.startTime) / Math.max(1, profile.nodes.reduce((n, x) => n + (x.hitCount ?? 0), 0));
    for (const n of profile.nodes) selfUs.set(n.id, (n.hitCount ?? 0) * interval);
  }
  const parentOf = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n.id);
  // Native functions (C++ bindings such as a UDP send) have no script: name them by their caller.
  const callers = new Map<string, Map<string, number>>();
  const functions = new Map<string, { name: string; where: string; area: string; us: number }>();
  const areas = new Map<string, number>();
  let busyUs = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    let name = functionName || '(anonymous)';
    let area = areaOf(url, name, lineNumber);
    if (area === 'native') {
      // A C++ binding belongs to the area of the script that called it (dgram's send, crypto's cipher…).
      const parent = byId.get(parentOf.get(id) ?? -1)?.callFrame;
      const module = parent ? nativeModuleCall(parent.url, parent.functionName) : null;
      if (module) {
        name = module.name;
        area = module.area;
      } else if (parent) {
        area = areaOf(parent.url, parent.functionName, parent.lineNumber);
      }
    }
    if (area === 'idle') continue;
    busyUs += us;
    const key = `${name}@${url}:${lineNumber}`;
    const f = functions.get(key) ?? { name, where: shortWhere(url, lineNumber, name), area, us: 0 };
    f.us += us;
    functions.set(key, f);
    if (!url && !name.startsWith('(')) {
      const parent = byId.get(parentOf.get(id) ?? -1);
      if (parent) {
        const pf = parent.callFrame;
        const label = `${pf.functionName || '(anonymous)'} ${shortWhere(pf.url, pf.lineNumber, pf.functionName)}`;
        const m = callers.get(key) ?? new Map<string, number>();
        m.set(label, (m.get(label) ?? 0) + us);
        callers.set(key, m);
      }
    }
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const pct = (us: number): number => (busyUs > 0 ? (100 * us) / busyUs : 0);
  for (const [key, m] of callers) {
    const top = [...m.entries()].sort((a, b) => b[1] - a[1])[0];
    const f = functions.get(key);
    if (top && f) f.where = `native, called from ${top[0]}`;
  }
  return {
    durationMs: (profile.endTime - profile.startTime) / 1000,
    busyMs: busyUs / 1000,
    functions: [...functions.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, area: f.area, selfMs: f.us / 1000, percent: pct(f.us) })),
    areas: [...areas.entries()].sort((a, b) => b[1] - a[1]).map(([area, us]) => ({ area, selfMs: us / 1000, percent: pct(us) })),
  };
}
