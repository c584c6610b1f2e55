// Hash routes (#/projects/123): the server only serves `/`, and a reload lands on the same page.
// A page renders into the main element and may return a cleanup (stop its polling) for when the
// person leaves it.

export type Cleanup = () => void;
export type Page = (main: HTMLElement, params: Record<string, string>) => void | Cleanup | Promise<void | Cleanup>;

interface Route {
  parts: string[];
  page: Page;
}

const routes: Route[] = [];

export function route(pattern: string, page: Page): void {
  routes.push({ parts: pattern.split('/').filter(Boolean), page });
}

export function match(path: string): { page: Page; params: Record<string, string> } | null {
  const parts = path.split('?')[0]!.split('/').filter(Boolean);
  for (const r of routes) {
    if (r.parts.length !== parts.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < parts.length; i++) {
      const want = r.parts[i]!;
      const got = decodeURIComponent(parts[i]!);
      if (want.startsWith(':')) params[want.slice(1)] = got;
      else if (want !== got) ok = false;
    }
    if (ok) return { page: r.page, params };
  }
  return null;
}

export function currentPath(): string {
  return location.hash.replace(/^#/, '') || '/';
}

export function navigate(path: string): void {
  if (currentPath() === path) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = path;
}

export function link(path: string): string {
  return `#${path}`;
}
