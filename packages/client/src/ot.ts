// The OT object: OpenTok.js's global entry point (initSession, initPublisher, getDevices,
// checkSystemRequirements, setLogLevel, exception events, error codes). With no `serverUrl`, a
// session talks to the server that served this script.

import { activeAudioOutput, audioOutputDevices, setAudioOutput, type AudioOutputDevice } from './audio-output.js';
import { capture, listDevices, type CaptureOptions, type DeviceInfo } from './devices.js';
import { hasFrameTransformSupport } from './e2ee/encoded-transform.js';
import { ExceptionCodes, EXCEPTION_TITLES, OTError, asOTError, invalidParameter } from './errors.js';
import { ObjectCollection } from './collection.js';
import { Publisher, livePublishers, type PublisherCompletionHandler, type PublisherProperties } from './publisher.js';
import { Stream } from './stream.js';
import { Subscriber, liveSubscribers } from './subscriber.js';
import { OTEventEmitter } from './event-emitter.js';
import { ExceptionEvent } from './events.js';
import { LogLevels, getLogLevel, log, setLogLevel } from './logger.js';
import { Connection } from './connection.js';
import { Session, connectedSessions, setExceptionReporter, type SessionOptions } from './session.js';
import { VERSION } from './version.js';
import { sdkScriptUrl } from './script-url.js';
import { insertableStreams } from './video-filter.js';

export interface OTEventMap {
  exception: ExceptionEvent<OTGlobal>;
}

/** Where the script came from (null for the ES module build). */
const scriptOrigin: string | null = sdkScriptUrl?.origin ?? null;

/** OT.setProxyUrl: a proxy in front of the Colloquy server that sessions made afterwards go through. */
let proxyUrl: string | null = null;

function defaultServerUrl(): string {
  if (proxyUrl) return proxyUrl;
  if (scriptOrigin) return scriptOrigin;
  if (typeof location !== 'undefined' && /^https?:$/.test(location.protocol)) return location.origin;
  return 'http://127.0.0.1:3000';
}

class OTGlobal extends OTEventEmitter<OTEventMap> {
  readonly version = VERSION;
  readonly ExceptionCodes = ExceptionCodes;
  readonly NONE = LogLevels.NONE;
  readonly ERROR = LogLevels.ERROR;
  readonly WARN = LogLevels.WARN;
  readonly INFO = LogLevels.INFO;
  readonly LOG = LogLevels.LOG;
  readonly DEBUG = LogLevels.DEBUG;
  readonly Session = Session;
  readonly Connection = Connection;
  readonly Publisher = Publisher;
  readonly Subscriber = Subscriber;
  readonly Stream = Stream;
  /** Deprecated in OpenTok.js (check `error.name` instead) but still present. */
  readonly Error = OTError;
  /** Every Publisher of the page not yet destroyed: `OT.publishers.find({id})`, `.where(…)`, `.length()`. */
  readonly publishers = new ObjectCollection<Publisher>(() => livePublishers);
  /** Every Subscriber of the page not yet destroyed (all sessions). */
  readonly subscribers = new ObjectCollection<Subscriber>(() => liveSubscribers);

  /**
   * OpenTok.js's `OT.properties`. `loggingURL`: where clients (and pre-call network tests) post
   * client events, at `${loggingURL}/logging/ClientEvent`; the Colloquy server that served this
   * script takes them into its Inspector.
   */
  get properties(): { loggingURL: string; version: string } {
    return { loggingURL: defaultServerUrl(), version: VERSION };
  }

  /** A Session for `sessionId`; nothing goes over the network until `session.connect(token)`. */
  initSession(apiKey: string | number, sessionId: string, options: SessionOptions = {}): Session {
    return new Session(String(apiKey ?? ''), sessionId, defaultServerUrl(), options);
  }

  /**
   * A Publisher: asks for the camera and microphone (or the screen with videoSource 'screen'),
   * shows the preview in `target` (an element or element id; the body when omitted), and calls
   * `completionHandler(error)` once access is granted or refused (1500 OT_USER_MEDIA_ACCESS_DENIED,
   * OT_NO_DEVICES_FOUND, OT_HARDWARE_UNAVAILABLE, …). Accepts (target, properties, handler),
   * (target, handler), (properties, handler) and (handler).
   */
  initPublisher(
    target?: string | HTMLElement | PublisherProperties | PublisherCompletionHandler | null,
    properties?: PublisherProperties | PublisherCompletionHandler,
    completionHandler?: PublisherCompletionHandler,
  ): Publisher {
    let handler = completionHandler;
    let element: unknown = target;
    let props: PublisherProperties = {};
    if (typeof target === 'function') {
      handler = target;
      element = undefined;
    } else if (target && typeof target === 'object' && !(typeof HTMLElement !== 'undefined' && target instanceof HTMLElement)) {
      props = target as PublisherProperties;
      element = undefined;
    }
    if (typeof properties === 'function') handler = properties;
    else if (properties) props = properties;
    return new Publisher(element, props, handler);
  }

  /** Cameras and microphones: `callback(error, [{kind: 'audioInput' | 'videoInput', deviceId, label}])`. */
  getDevices(callback: (error: OTError | null, devices?: DeviceInfo[]) => void): void {
    listDevices().then(
      (devices) => callback(null, devices),
      (err: unknown) => callback(asOTError(err)),
    );
  }

  /** Whether this browser can share its screen (getDisplayMedia); no extension is ever needed. */
  checkScreenSharingCapability(callback: (response: { supported: boolean; supportedSources: Record<string, boolean>; extensionRequired?: string; extensionInstalled?: boolean }) => void): void {
    const supported = typeof navigator !== 'undefined' && typeof navigator.mediaDevices?.getDisplayMedia === 'function';
    callback({ supported, supportedSources: { screen: supported, application: false, window: supported, browser: supported } });
  }

  /**
   * Sends sessions made after this call (their signaling WebSocket) through `url`, a proxy
   * that forwards to the Colloquy server, as OpenTok's IP proxy; media still goes straight to the
   * server. An explicit `serverUrl` session option wins.
   */
  setProxyUrl(url: string): void {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw invalidParameter(`setProxyUrl: not a URL: ${String(url)}`);
    }
    if (!/^(https?|wss?):$/.test(parsed.protocol)) throw invalidParameter('setProxyUrl: an http(s) or ws(s) URL');
    proxyUrl = parsed.href.replace(/\/$/, '');
  }

  /**
   * Reports that the app had a problem (OT.reportIssue): every connected session records it in the
   * server's Inspector (the connection's errors); the callback gets the issue id to quote.
   */
  reportIssue(callback?: (error: OTError | null, reportIssueId?: string) => void): Promise<string> {
    const id = typeof crypto !== 'undefined' && typeof crypto.randomUUID === 'function' ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
    for (const session of connectedSessions) session._reportIssue(id);
    callback?.(null, id);
    return Promise.resolve(id);
  }

  /** A MediaStream from OpenTok's publisher options (audioSource, videoSource, resolution, …). */
  async getUserMedia(options: CaptureOptions = {}): Promise<MediaStream> {
    const captured = await capture(options); // browser errors come back as OpenTok's (1500, OT_USER_MEDIA_ACCESS_DENIED, …)
    return new MediaStream([captured.audio, captured.video].filter((t): t is MediaStreamTrack => t !== null));
  }

  /** Speakers and headsets: [{deviceId, label}] (labels once the page has had media access). */
  getAudioOutputDevices(): Promise<AudioOutputDevice[]> {
    return audioOutputDevices();
  }

  /** Sends every subscriber's sound (now and later) to this output ('default' for the browser's). */
  setAudioOutputDevice(deviceId: string): Promise<void> {
    return setAudioOutput(deviceId, [...liveSubscribers].map((s) => s._mediaElement));
  }

  getActiveAudioOutputDevice(): Promise<AudioOutputDevice> {
    return activeAudioOutput();
  }

  /**
   * The video codecs this browser can send and receive that Colloquy routes (VP8, H264), as
   * OpenTok.js reports them: {videoEncoders, videoDecoders}.
   */
  async getSupportedCodecs(): Promise<{ videoEncoders: string[]; videoDecoders: string[] }> {
    const routed = ['VP8', 'H264'];
    const names = (caps: RTCRtpCapabilities | null | undefined) => {
      const found = new Set((caps?.codecs ?? []).map((c) => c.mimeType.replace(/^video\//i, '').toUpperCase()));
      return routed.filter((name) => found.has(name));
    };
    const g = globalThis as { RTCRtpSender?: typeof RTCRtpSender; RTCRtpReceiver?: typeof RTCRtpReceiver };
    return { videoEncoders: names(g.RTCRtpSender?.getCapabilities?.('video')), videoDecoders: names(g.RTCRtpReceiver?.getCapabilities?.('video')) };
  }

  /**
   * Whether the built-in video filters (publisher.applyVideoFilter) and media processor connectors
   * (setVideoMediaProcessorConnector, as `@vonage/media-processor` provides) can run here: they need
   * insertable streams for raw video (MediaStreamTrackProcessor and MediaStreamTrackGenerator, with
   * VideoFrame and OffscreenCanvas), which Chromium has.
   */
  hasMediaProcessorSupport(): boolean {
    return insertableStreams() !== null;
  }

  /**
   * Whether this browser can join end-to-end encrypted sessions: it needs RTCRtpScriptTransform
   * or Chromium's encoded insertable streams, and WebCrypto (a secure context: https or localhost).
   */
  hasEndToEndEncryptionSupport(): boolean {
    return hasFrameTransformSupport();
  }

  /** Plays subscribers whose sound the browser's autoplay policy blocked (call it from a user gesture). */
  async unblockAudio(): Promise<void> {
    await Promise.all([...liveSubscribers].map((s) => s._unblockAudio()));
  }

  /** 1 when this browser has what the SDK needs (WebRTC and WebSocket), else 0. */
  checkSystemRequirements(): 0 | 1 {
    const g = globalThis as { RTCPeerConnection?: unknown; WebSocket?: unknown };
    return typeof g.RTCPeerConnection === 'function' && typeof g.WebSocket === 'function' ? 1 : 0;
  }

  /** OpenTok.js shows an upgrade page; here there is nothing to show. */
  upgradeSystemRequirements(): void {
    log.warn('This browser does not support WebRTC; use a current Chrome, Firefox, Safari or Edge.');
  }

  setLogLevel(level: number): void {
    setLogLevel(level);
  }

  getLogLevel(): number {
    return getLogLevel();
  }

  /** @internal dispatches an exception event to OT.on('exception') handlers. */
  reportException(code: number, message: string): void {
    this.dispatchEvent(new ExceptionEvent(this, code, EXCEPTION_TITLES[code] ?? 'Error', message));
  }
}

export const OT = new OTGlobal();
export type OTStatic = typeof OT;

setExceptionReporter((error) => OT.reportException(error.code, error.message));
