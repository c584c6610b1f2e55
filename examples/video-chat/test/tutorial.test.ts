// Keeps docs/tutorial-video-chat.md true to this app. Every code block in the tutorial is marked
// `<!-- snippet: FILE#REGION -->` and must equal that region of the real file (between its
// `#region REGION` and `#endregion` markers), character for character; the regions of each file
// must cover all of it and appear in the tutorial in the file's order, so that following the
// tutorial from an empty folder builds exactly this app. Then the app is assembled from the
// tutorial's snippets in a fresh folder and run. The parsing is in scripts/tutorial-snippets.js,
// which also copies changed regions into the tutorial (`npm run tutorial:sync`).

import { startTestServer } from '@colloquy/testing/server';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_DIR, DOC, FILES, regionsOf, snippetsOf } from '../scripts/tutorial-snippets.js';

describe('docs/tutorial-video-chat.md', () => {
  const doc = readFileSync(DOC, 'utf8');
  const snippets = snippetsOf(doc);

  it('marks every code block that shows app code', () => {
    // Each ```js / ```html / ```css block is a snippet; shell and JSON examples are not app code.
    const blocks = [...doc.matchAll(/^```(js|html|css)$/gm)].length;
    expect(blocks).toBeGreaterThan(20);
    expect(snippets.length).toBe(blocks);
    expect(doc).not.toMatch(/<!-- snippet:(?![^\n]*-->\n```)/); // a marker not right above its block
  });

  for (const file of FILES) {
    it(`shows all of ${file}, region by region in the file's order, exactly as written`, () => {
      const { regions, problems } = regionsOf(file);
      expect(problems).toEqual([]);
      const shown = snippets.filter((s) => s.file === file);
      expect(shown.map((s) => s.region)).toEqual(regions.map((r) => r.name));
      for (const [i, s] of shown.entries()) {
        expect(s.text, `${file}#${s.region} (tutorial line ${s.line}) differs from the file`).toBe(regions[i]!.text);
      }
    });
  }

  it('names no other file', () => {
    expect([...new Set(snippets.map((s) => s.file))].sort()).toEqual([...FILES].sort());
  });

  it('builds a working app in a fresh folder from its snippets alone', async () => {
    // Inside the repository, as the tutorial suggests, so that @colloquy/sdk-node resolves.
    mkdirSync(join(APP_DIR, 'test-output'), { recursive: true });
    const dir = mkdtempSync(join(APP_DIR, 'test-output', 'tutorial-'));
    const colloquy = await startTestServer();
    let child: ReturnType<typeof spawn> | undefined;
    try {
      mkdirSync(join(dir, 'public'));
      writeFileSync(join(dir, 'package.json'), '{"type": "module"}\n'); // what `npm pkg set type=module` leaves
      for (const file of FILES) {
        writeFileSync(join(dir, file), snippets.filter((s) => s.file === file).map((s) => s.text).join('\n\n') + '\n');
      }
      const port = await freePort();
      child = spawn(process.execPath, ['server.js'], {
        cwd: dir,
        env: { ...process.env, PORT: String(port), COLLOQUY_URL: colloquy.url, COLLOQUY_API_KEY: colloquy.apiKey, COLLOQUY_API_SECRET: colloquy.apiSecret },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      await expect.poll(() => output, { timeout: 10_000 }).toContain(`Video chat: http://127.0.0.1:${port}/`);
      const page = await (await fetch(`http://127.0.0.1:${port}/`)).text();
      expect(page).toContain(`<script src="${colloquy.url}/v2/js/opentok.js"></script>`);
      const joined = await fetch(`http://127.0.0.1:${port}/api/rooms/tutorial/join`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"displayName":"Ada"}' });
      expect(joined.status).toBe(200);
      const { sessionId } = (await joined.json()) as { sessionId: string };
      expect(await colloquy.server.store.sessions.get(sessionId)).toMatchObject({ mediaMode: 'routed' });
    } finally {
      child?.kill();
      await colloquy.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
