// The page a render's Chromium opens on this server: it shows the app's URL in a full-window
// iframe, captures its own tab (video and tab audio, getDisplayMedia with preferCurrentTab, which
// Chromium's --auto-accept-this-tab-capture grants without a prompt) and publishes that capture
// into the session with Colloquy's browser SDK and the render's token. The app's page keeps its own
// JavaScript world (the iframe), so an app that itself loads an `OT` never meets ours.
// Served from this server so the SDK and the signaling socket are same-origin and the page is a
// secure context on http://127.0.0.1. It holds no secret: the token comes from the controller.

import type { FastifyInstance } from 'fastify';

export const COMPOSER_PAGE_PATH = '/render/composer.html';

/** What the controller (composer.ts) calls in the page, and what the page calls back. */
export interface ComposerPublishRequest {
  apiKey: string;
  sessionId: string;
  token: string;
  name: string;
  width: number;
  height: number;
}

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>Colloquy render</title>
<style>html,body{margin:0;padding:0;width:100%;height:100%;overflow:hidden;background:#000}
iframe{position:fixed;inset:0;width:100%;height:100%;border:0;display:block}</style>
<script src="/v2/js/opentok.min.js"></script>
</head><body>
<script>
'use strict';
(() => {
  let session = null;
  let publisher = null;
  let media = null;
  let ended = false;
  const end = (reason) => {
    if (ended) return;
    ended = true;
    // Set by the controller (page.exposeFunction): the render is over, for this reason.
    if (typeof window.colloquyRenderEnded === 'function') window.colloquyRenderEnded(reason);
  };
  window.colloquyComposer = {
    /** Shows the app's page; resolves once the iframe fired load. */
    load(url) {
      return new Promise((resolve) => {
        const frame = document.createElement('iframe');
        frame.allow = 'autoplay; fullscreen; display-capture';
        frame.addEventListener('load', () => resolve(), { once: true });
        frame.src = url;
        document.body.appendChild(frame);
      });
    },
    /** Captures this tab and publishes it; resolves with the stream and connection ids. */
    async publish(o) {
      media = await navigator.mediaDevices.getDisplayMedia({
        video: { width: { ideal: o.width }, height: { ideal: o.height }, frameRate: { ideal: 30 } },
        audio: { suppressLocalAudioPlayback: false },
        preferCurrentTab: true,
        selfBrowserSurface: 'include',
      });
      const video = media.getVideoTracks()[0];
      const audio = media.getAudioTracks()[0] || null;
      if (!video) throw new Error('The tab capture gave no video track');
      video.addEventListener('ended', () => end('The page capture ended'));
      session = OT.initSession(o.apiKey, o.sessionId);
      session.on('sessionDisconnected', (e) => end('The render was disconnected from the session (' + (e.reason || 'unknown') + ')'));
      await new Promise((resolve, reject) => session.connect(o.token, (err) => (err ? reject(new Error('Connecting to the session failed: ' + err.message)) : resolve())));
      publisher = OT.initPublisher(undefined, {
        insertDefaultUI: false,
        name: o.name,
        videoSource: video,
        audioSource: audio || null,
        // A page is text and detail: keep its resolution and let the frame rate give way.
        videoContentHint: 'detail',
      });
      publisher.on('streamDestroyed', (e) => end('The render stream was unpublished (' + (e.reason || 'unknown') + ')'));
      await new Promise((resolve, reject) => session.publish(publisher, (err) => (err ? reject(new Error('Publishing failed: ' + err.message)) : resolve())));
      return { streamId: publisher.stream.streamId, connectionId: session.connection.connectionId };
    },
    /** Leaves the session (others get streamDestroyed at once); resolves when disconnected. */
    stop() {
      ended = true;
      if (media) for (const t of media.getTracks()) t.stop();
      if (!session || !session.connection) return Promise.resolve();
      return new Promise((resolve) => {
        session.on('sessionDisconnected', () => resolve());
        session.disconnect();
      });
    },
  };
})();
</script>
</body></html>
`;

export async function composerPageRoutes(app: FastifyInstance): Promise<void> {
  app.get(COMPOSER_PAGE_PATH, async (_request, reply) =>
    reply.header('content-type', 'text/html; charset=utf-8').header('cache-control', 'no-store').header('x-robots-tag', 'noindex').send(PAGE),
  );
}
