// A few lines instead of a framework: `h()` builds elements, the formatters turn numbers into the
// words people read. Pages re-render their own small parts; nothing here keeps state.

export type Child = Node | string | number | null | undefined | false | Child[];
type Handler = (event: Event) => void;
export type Props = Record<string, string | number | boolean | Handler | null | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props?: Props | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2).toLowerCase(), value);
      else if (key === 'class') el.className = String(value);
      // Through the CSSOM: the page's CSP refuses style attributes set as markup.
      else if (key === 'style') el.style.cssText = String(value);
      else if (key === 'value' && 'value' in el) (el as HTMLInputElement).value = String(value);
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: Child[]): void {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.appendChild(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
  }
}

export function replace(parent: Element, ...children: Child[]): void {
  parent.replaceChildren();
  append(parent, children);
}

export function formatBitrate(bps: number | null | undefined): string {
  if (bps === null || bps === undefined) return '—';
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(2)} Mbps`;
  if (bps >= 1e3) return `${Math.round(bps / 1e3)} kbps`;
  return `${Math.round(bps)} bps`;
}

export function formatPercent(fraction: number | null | undefined): string {
  if (fraction === null || fraction === undefined) return '—';
  return `${(fraction * 100).toFixed(fraction < 0.1 ? 1 : 0)} %`;
}

export function formatMs(ms: number | null | undefined): string {
  return ms === null || ms === undefined ? '—' : `${Math.round(ms)} ms`;
}

export function formatTime(ms: number): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour12: false });
}

export function formatDateTime(ms: number | null | undefined): string {
  if (!ms) return '—';
  const d = new Date(ms);
  return `${d.toLocaleDateString()} ${d.toLocaleTimeString(undefined, { hour12: false })}`;
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export function shortId(id: string, keep = 10): string {
  return id.length > keep + 3 ? `${id.slice(0, keep)}…` : id;
}

/**
 * A session ID cut to the part that tells sessions apart. Every session ID of a project begins the
 * same (`1_` + the encoded "1~apiKey~location~creation time"), and what differs is the random part
 * at its end, so the end is shown (the whole ID goes in a tooltip).
 */
export function sessionTail(id: string, keep = 14): string {
  return id.length > keep + 1 ? `…${id.slice(-keep)}` : id;
}

const BROWSERS: Array<[RegExp, string]> = [
  [/Edg\/(\d+)/, 'Edge'],
  [/(?:Chrome|Chromium)\/(\d+)/, 'Chrome'],
  [/Firefox\/(\d+)/, 'Firefox'],
  [/Version\/(\d+)[^ ]* (?:Mobile\/\S+ )?Safari/, 'Safari'],
];
const SYSTEMS: Array<[RegExp, string]> = [
  [/Android/, 'Android'],
  [/iPhone|iPad/, 'iOS'],
  [/Windows/, 'Windows'],
  [/Mac OS X/, 'macOS'],
  [/Linux|X11/, 'Linux'],
];

/** "Chrome 146 on Linux" from a User-Agent header (pages put the whole header in a tooltip). */
export function browserName(ua: string | null | undefined): string {
  if (!ua) return '—';
  for (const [re, name] of BROWSERS) {
    const m = re.exec(ua);
    if (!m) continue;
    const os = SYSTEMS.find(([osRe]) => osRe.test(ua))?.[1];
    return `${name} ${m[1]}${os ? ` on ${os}` : ''}`;
  }
  return ua.length > 60 ? `${ua.slice(0, 57)}…` : ua;
}

/** A score 1..5 as a colored badge. */
export function scoreBadge(score: number | null | undefined): HTMLElement {
  if (score === null || score === undefined) return h('span', { class: 'badge muted' }, 'no data');
  const cls = score >= 4 ? 'good' : score >= 3 ? 'fair' : 'bad';
  return h('span', { class: `badge ${cls}`, title: 'Quality score, 1 (bad) to 5 (excellent)' }, score.toFixed(1));
}

export async function copyToClipboard(text: string, button: HTMLButtonElement): Promise<void> {
  const original = button.textContent;
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch {
    button.textContent = 'Select and copy';
  }
  setTimeout(() => (button.textContent = original), 1500);
}
