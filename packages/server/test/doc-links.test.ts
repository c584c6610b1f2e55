// Every relative link in the repository's Markdown (README.md, docs/, package and folder READMEs)
// resolves: the file or folder exists inside the repository, and a #fragment names a heading of the
// Markdown file it points into (GitHub's heading ids). Web links are not fetched (no internet here).

import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));

/** The Markdown files git tracks (node_modules and build output never are). */
function markdownFiles(): string[] {
  return execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard', '*.md'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean);
}

/** The text outside fenced code blocks and inline code, where links are links. */
function prose(markdown: string): string {
  return markdown
    .replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '')
    .replace(/(`+)[\s\S]*?\1/g, '');
}

/** GitHub's id for a heading: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
export function headingIds(markdown: string): Set<string> {
  const ids = new Set<string>();
  const seen = new Map<string, number>();
  const withoutFences = markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '');
  for (const match of withoutFences.matchAll(/^#{1,6}[ \t]+(.+?)[ \t#]*$/gm)) {
    const text = match[1]!
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images keep their text
      .replace(/<[^>]+>/g, '')
      .replace(/[`*_~]/g, (c) => (c === '_' ? '_' : ''));
    const base = text.trim().toLowerCase().replace(/[^\p{L}\p{N}\p{M} _-]/gu, '').replace(/ /g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    ids.add(n === 0 ? base : `${base}-${n}`);
  }
  for (const match of markdown.matchAll(/<a\s+(?:name|id)="([^"]+)"/g)) ids.add(match[1]!);
  return ids;
}

/** Inline links and images `[t](target "title")`, reference definitions `[r]: target`, and HTML href/src. */
function linkTargets(markdown: string): string[] {
  const text = prose(markdown);
  const targets: string[] = [];
  for (const m of text.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) targets.push(m[1]!);
  for (const m of text.matchAll(/^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)) targets.push(m[1]!);
  for (const m of text.matchAll(/\b(?:href|src)="([^"]+)"/g)) targets.push(m[1]!);
  return targets;
}

function problemsOf(file: string): string[] {
  const path = resolve(ROOT, file);
  const markdown = readFileSync(path, 'utf8');
  const problems: string[] = [];
  for (const target of linkTargets(markdown)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:: not checked offline
    const [rawPath = '', fragment] = target.split('#', 2) as [string, string | undefined];
    const linked = rawPath === '' ? path : resolve(dirname(path), decodeURIComponent(rawPath));
    const inside = relative(ROOT, linked);
    if (inside.startsWith('..') || rawPath.startsWith('/')) {
      problems.push(`${file}: ${target} points outside the repository`);
      continue;
    }
    if (!existsSync(linked)) {
      problems.push(`${file}: ${target} does not exist`);
      continue;
    }
    if (fragment !== undefined && fragment !== '') {
      if (!linked.endsWith('.md') || statSync(linked).isDirectory()) continue; // line anchors (#L10) of code files are GitHub's
      if (!headingIds(readFileSync(linked, 'utf8')).has(decodeURIComponent(fragment).toLowerCase())) {
        problems.push(`${file}: ${target}: no heading #${fragment} in ${relative(ROOT, linked)}`);
      }
    }
  }
  // A path written as code (`../x/y.md`) is a reference a reader follows too: it must lead to a file
  // of the repository (outside it, a clone has nothing).
  for (const m of markdown.replace(/^(```|~~~)[^\n]*\n[\s\S]*?^\1[^\n]*$/gm, '').matchAll(/`(\.\.\/[^`\s]+)`/g)) {
    const named = resolve(dirname(path), m[1]!);
    if (relative(ROOT, named).startsWith('..') || !existsSync(named)) problems.push(`${file}: \`${m[1]}\` names no file of the repository`);
  }
  return problems;
}

describe('links in the documentation', () => {
  it('finds the documentation (README.md, docs/, package READMEs)', () => {
    const files = markdownFiles();
    expect(files).toContain('README.md');
    expect(files).toContain('docs/rest-api.md');
    expect(files.filter((f) => f.startsWith('packages/') && f.endsWith('/README.md')).length).toBeGreaterThan(5);
  });

  it('computes heading ids as GitHub does', () => {
    const ids = headingIds('# The `colloquy` command\n## Point your OpenTok server SDK at Colloquy\n## Notes\n## Notes\n```\n# not a heading\n```\n### What 2.0 (beta) does: [x](y.md)!');
    expect([...ids]).toEqual(['the-colloquy-command', 'point-your-opentok-server-sdk-at-colloquy', 'notes', 'notes-1', 'what-20-beta-does-x']);
  });

  it('every relative link resolves to a file in the repository, and every #anchor to a heading', () => {
    const problems = markdownFiles().flatMap(problemsOf);
    expect(problems).toEqual([]);
  });
});
