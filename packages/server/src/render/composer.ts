// One render's browser: a headless Chromium process of its own (a crash or a runaway page takes
// nothing else down, and closing it frees everything), a context at the requested resolution, the
// composer page (composer-page.ts) showing the app's URL and publishing its own tab into the
// session. `start` resolves once the stream is published, or rejects with a RenderFailure whose
// message is the reason a client reads; `onEnded` reports an end the page or browser caused; `stop`
// leaves the session cleanly and closes the browser. Every path that ends a Composer closes its
// Chromium: a failed start, a crash, a stop, the server's shutdown.

// Types only: playwright-core itself is loaded at the first render (see loadChromium).
import type { Browser, BrowserType, Frame, Page } from 'playwright-core';
import type { Logger } from '../logger.js';
import { COMPOSER_PAGE_PATH, type ComposerPublishRequest } from './composer-page.js';

/**
 * playwright-core, imported the first time a render starts. A static import would load it into
 * every server: ~30 MB of heap and ~0.35 s of start-up for a feature most deployments never use,
 * and a V8 heap snapshot of the server went from ~1 s to ~30 s (which stalled the event loop long
 * enough for clients' heartbeats to give up in the leak benchmark). Loaded once, then shared.
 */
let chromiumType: Promise<BrowserType> | null = null;
export function loadChromium(): Promise<BrowserType> {
  chromiumType ??= import('playwright-core').then((m) => m.chromium);
  return chromiumType;
}

/** A reason the render could not start or went on; the message is shown to the app. */
export class RenderFailure extends Error {
  override name = 'RenderFailure';
}

export interface ComposerOptions {
  chromiumPath: string;
  /** This server's own loopback base URL (the composer page, the SDK and signaling). */
  serverUrl: string;
  /** The app's page. */
  url: string;
  width: number;
  height: number;
  publish: Omit<ComposerPublishRequest, 'width' | 'height'>;
  /** How long the app's page may take to load, and then the publish to complete (ms, each). */
  loadTimeoutMs: number;
  logger: Logger;
}

/**
 * Chromium's flags for a render. No fake camera or microphone: a page's own getUserMedia is
 * denied as a headless browser without devices would; the tab capture is the only media.
 */
export const RENDER_CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-extensions',
  // getDisplayMedia({preferCurrentTab}) is granted for the tab itself without a picker.
  '--auto-accept-this-tab-capture',
  // The SFU may be on this machine's loopback address.
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
  // Headless tabs must keep painting, running timers and capturing at full rate.
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
  // The app's iframe runs in the composer page's process: a crash of the app's page is the
  // page's crash event (and ends the render) instead of a silent sad-face frame in the capture.
  '--disable-site-isolation-trials',
  '--disable-features=IsolateOrigins,site-per-process',
];

/** How long a clean leave of the session may take before the browser is closed anyway. */
const STOP_GRACE_MS = 5000;

export class Composer {
  readonly #options: ComposerOptions;
  readonly #log: Logger;
  #browser: Browser | null = null;
  #page: Page | null = null;
  #closed = false;
  /** The browser's close, once begun: every ending waits for it. */
  #closing: Promise<void> | null = null;
  #started = false;
  #onEnded: ((reason: string, failed: boolean) => void) | null = null;
  /** Rejects the start in progress when the page fails while loading or publishing. */
  #failStart: ((err: RenderFailure) => void) | null = null;

  constructor(options: ComposerOptions) {
    this.#options = options;
    this.#log = options.logger;
  }

  /**
   * Called once when the render ends on its own after a successful start: `failed` for a crash or
   * a browser that exited, not for a page that left the session (a moderator's forceDisconnect).
   */
  onEnded(listener: (reason: string, failed: boolean) => void): void {
    this.#onEnded = listener;
  }

  /** The composer page, for tests that crash it on purpose. */
  get page(): Page | null {
    return this.#page;
  }

  /** Opens the page and publishes it; resolves with the stream and connection ids and how long each step took. */
  async start(): Promise<ComposerStarted> {
    const failed = new Promise<never>((_, reject) => {
      this.#failStart = reject;
    });
    failed.catch(() => {});
    try {
      return await Promise.race([this.#start(), failed]);
    } catch (err) {
      const failure = err instanceof RenderFailure ? err : new RenderFailure(this.#closed ? 'The render was stopped while starting' : `The render could not start: ${firstLine(err)}`);
      await this.#close();
      throw failure;
    } finally {
      this.#failStart = null;
    }
  }

  async #start(): Promise<ComposerStarted> {
    const o = this.#options;
    const t0 = performance.now();
    const chromium = await loadChromium();
    const browser = await chromium.launch({
      executablePath: o.chromiumPath,
      headless: true,
      args: RENDER_CHROMIUM_ARGS,
      // Playwright mutes headless browsers by default; the page's audio is part of the render.
      ignoreDefaultArgs: ['--mute-audio'],
      // The server's own shutdown closes renders; Chromium must not catch the signals first.
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
      timeout: o.loadTimeoutMs,
    });
    if (this.#closed) {
      // Stopped (or failed) while Chromium was starting: nobody else will close this one.
      await browser.close().catch(() => {});
      throw new RenderFailure('The render was stopped while starting');
    }
    this.#browser = browser;
    const launched = performance.now();
    browser.on('disconnected', () => this.#fail('The render browser exited'));
    const context = await browser.newContext({ viewport: { width: o.width, height: o.height }, deviceScaleFactor: 1 });
    const page = await context.newPage();
    this.#page = page;
    page.on('crash', () => this.#fail('The page crashed'));
    page.on('pageerror', (err) => this.#log.debug({ err: err.message }, 'render page error'));
    await allowFraming(page);
    // The app's document is the composer page's child frame: its navigation tells whether it loaded.
    const isAppDocument = (frame: Frame, navigation: boolean): boolean => navigation && frame.parentFrame() === page.mainFrame();
    page.on('requestfailed', (request) => {
      if (isAppDocument(request.frame(), request.isNavigationRequest())) this.#fail(`The page did not load: ${request.failure()?.errorText ?? 'request failed'}`);
    });
    page.on('response', (response) => {
      const request = response.request();
      if (isAppDocument(request.frame(), request.isNavigationRequest()) && response.status() >= 400) this.#fail(`The page did not load: HTTP ${response.status()}`);
    });
    await page.exposeFunction('colloquyRenderEnded', (reason: unknown) => this.#fail(typeof reason === 'string' ? reason : 'The render ended', false));
    await page.goto(new URL(COMPOSER_PAGE_PATH, o.serverUrl).href, { timeout: o.loadTimeoutMs });
    await withTimeout(page.evaluate((url) => (globalThis as unknown as ComposerWindow).colloquyComposer.load(url), o.url), o.loadTimeoutMs, `The page did not load within ${Math.round(o.loadTimeoutMs / 1000)} s`);
    const loaded = performance.now();
    const request: ComposerPublishRequest = { ...o.publish, width: o.width, height: o.height };
    const ids = await withTimeout(
      page.evaluate((r) => (globalThis as unknown as ComposerWindow).colloquyComposer.publish(r), request),
      o.loadTimeoutMs,
      `Publishing the page did not complete within ${Math.round(o.loadTimeoutMs / 1000)} s`,
    );
    this.#started = true;
    const ms = (from: number, to: number) => Math.round(to - from);
    return { ...ids, timings: { launchMs: ms(t0, launched), loadMs: ms(launched, loaded), publishMs: ms(loaded, performance.now()) } };
  }

  /** Leaves the session (subscribers get streamDestroyed at once) and closes the browser. */
  async stop(): Promise<void> {
    if (this.#closed) return this.#closing ?? undefined;
    this.#closed = true;
    const page = this.#page;
    if (page && this.#started) {
      await withTimeout(page.evaluate(() => (globalThis as unknown as ComposerWindow).colloquyComposer.stop()), STOP_GRACE_MS, 'leave timed out').catch((err: unknown) =>
        this.#log.debug({ err: firstLine(err) }, 'render did not leave its session cleanly'),
      );
    }
    this.#failStart?.(new RenderFailure('The render was stopped while starting'));
    await this.#close();
  }

  /** The page or browser ended the render: fail the start, or report the end once. */
  #fail(reason: string, failed = true): void {
    if (this.#closed) return;
    if (this.#failStart && !this.#started) {
      this.#failStart(new RenderFailure(reason));
      return;
    }
    this.#closed = true;
    void this.#close();
    const listener = this.#onEnded;
    this.#onEnded = null;
    listener?.(reason, failed);
  }

  #close(): Promise<void> {
    this.#closed = true;
    const browser = this.#browser;
    this.#browser = null;
    this.#page = null;
    if (browser) {
      const closing = browser.close().catch((err: unknown) => this.#log.warn({ err: firstLine(err) }, 'closing a render browser failed'));
      this.#closing = this.#closing ? Promise.all([this.#closing, closing]).then(() => {}) : closing;
    }
    return this.#closing ?? Promise.resolve();
  }
}

export interface ComposerStarted {
  streamId: string;
  connectionId: string;
  /** Chromium's launch, the composer page and the app's page loading, the capture and publish (ms). */
  timings: { launchMs: number; loadMs: number; publishMs: number };
}

/**
 * The app's page is shown in an iframe: a page that forbids being framed (X-Frame-Options, CSP
 * frame-ancestors; many sites that render a dashboard or a stage send one) would show as an error.
 * Documents' responses are paused as they arrive (CDP Fetch at the response stage); one carrying
 * either limit is answered again without it, with its body (Chromium checks framing against the
 * original headers when only the headers are changed). Others go on untouched. The render's browser
 * is its only viewer, so nothing a user could be tricked into clicking is exposed.
 */
async function allowFraming(page: Page): Promise<void> {
  const cdp = await page.context().newCDPSession(page);
  cdp.on('Fetch.requestPaused', (event) => {
    const headers = event.responseHeaders ?? [];
    const kept = withoutFramingLimits(headers);
    const unchanged = kept.length === headers.length && kept.every((h, i) => h.value === headers[i]!.value);
    const resume = unchanged
      ? cdp.send('Fetch.continueResponse', { requestId: event.requestId })
      : cdp.send('Fetch.getResponseBody', { requestId: event.requestId }).then(({ body, base64Encoded }) =>
          cdp.send('Fetch.fulfillRequest', {
            requestId: event.requestId,
            responseCode: event.responseStatusCode ?? 200,
            responseHeaders: kept,
            body: base64Encoded ? body : Buffer.from(body).toString('base64'),
          }),
        );
    // The page may be closing (a stop): the paused request goes with it.
    resume.catch(() => {});
  });
  await cdp.send('Fetch.enable', { patterns: [{ resourceType: 'Document', requestStage: 'Response' }] });
}

/** Response headers without X-Frame-Options and without CSP's frame-ancestors directive. */
export function withoutFramingLimits(headers: Array<{ name: string; value: string }>): Array<{ name: string; value: string }> {
  const out: Array<{ name: string; value: string }> = [];
  for (const h of headers) {
    const name = h.name.toLowerCase();
    if (name === 'x-frame-options') continue;
    if (name === 'content-security-policy') {
      const value = h.value
        .split(';')
        .filter((directive) => !/^\s*frame-ancestors(\s|$)/i.test(directive))
        .join(';')
        .trim();
      if (value.replace(/;/g, '').trim() !== '') out.push({ name: h.name, value });
      continue;
    }
    out.push(h);
  }
  return out;
}

interface ComposerWindow {
  colloquyComposer: {
    load(url: string): Promise<void>;
    publish(request: ComposerPublishRequest): Promise<{ streamId: string; connectionId: string }>;
    stop(): Promise<void>;
  };
}

function firstLine(err: unknown): string {
  return String((err as Error)?.message ?? err).split('\n')[0]!.replace(/^page\.evaluate: (Error: )?/, '');
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RenderFailure(message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
