// Real Chromium for tests: Debian's /usr/bin/chromium driven by playwright-core, with a fresh
// profile per launch, fake camera and microphone, and loopback ICE allowed. Page errors and
// console errors are collected so a test can fail on them.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export { CANVAS_TRACK_SCRIPT } from './page-scripts.js';

export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  // Without it Chromium gathers no loopback ICE candidate and never connects on 127.0.0.1.
  '--allow-loopback-in-peer-connection',
  // Background tabs must keep decoding and running timers in multi-page tests.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
  '--autoplay-policy=no-user-gesture-required',
];

export interface TestBrowser {
  context: BrowserContext;
  /** The profile folder (--user-data-dir): tells this Chromium's processes apart (e.g. to read their CPU time). */
  profile: string;
  /** Opens a page that records its uncaught errors and console errors. */
  newPage(): Promise<TestPage>;
  close(): Promise<void>;
}

export interface TestPage {
  page: Page;
  /** Uncaught exceptions and console.error lines seen so far. */
  errors: string[];
}

export interface LaunchOptions {
  /** Extra Chromium flags (e.g. a fake video file). */
  args?: string[];
  /** Grant camera/microphone (default true). Set false to test access denial. */
  grantMedia?: boolean;
  /** Another Chromium executable (e.g. a wrapper that starts it in a network namespace). */
  executablePath?: string;
}

export async function launchChromium(options: LaunchOptions = {}): Promise<TestBrowser> {
  const profile = mkdtempSync(join(tmpdir(), 'colloquy-chromium-'));
  const args = [...CHROMIUM_ARGS, ...(options.args ?? [])].filter(
    (a) => options.grantMedia !== false || a !== '--use-fake-ui-for-media-stream',
  );
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: options.executablePath ?? CHROMIUM_PATH,
    headless: true,
    args,
    viewport: { width: 1024, height: 768 },
  });
  return {
    context,
    profile,
    async newPage() {
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
      page.on('console', (msg) => {
        if (msg.type() === 'error') errors.push(`console.error: ${msg.text()}`);
      });
      return { page, errors };
    },
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
