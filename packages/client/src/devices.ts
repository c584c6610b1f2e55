// Capturing media as OpenTok.js's Publisher options describe it: audioSource/videoSource as a
// device id, a MediaStreamTrack, false/null for none, or 'screen' (getDisplayMedia); resolution,
// frameRate, facingMode and the audio-processing switches. Browser errors become OpenTok's
// (code 1500, names such as OT_USER_MEDIA_ACCESS_DENIED). Also OT.getDevices.

import { OTError, publishError } from './errors.js';
import { log } from './logger.js';

export type VideoSourceOption = string | MediaStreamTrack | null | false | undefined;
export type AudioSourceOption = string | MediaStreamTrack | null | false | undefined;

/** Screen-sharing values of videoSource (OpenTok accepts the three; browsers offer one picker). */
export const SCREEN_SOURCES = ['screen', 'application', 'window', 'browser'] as const;

export interface CaptureOptions {
  audioSource?: AudioSourceOption;
  videoSource?: VideoSourceOption;
  /** 'WIDTHxHEIGHT', e.g. '1280x720' (default 640x480 for cameras). */
  resolution?: string;
  /** 30, 15, 7 or 1 (default 30). */
  frameRate?: number;
  /**
   * Screen sharing: the largest picture sent, each side 10 to 1920 pixels; a bigger capture is
   * scaled down to fit, keeping its shape (OpenTok.js). Without it, `resolution` (or 1920x1080) is
   * that bound.
   */
  maxResolution?: { width: number; height: number };
  facingMode?: 'user' | 'environment' | 'left' | 'right';
  echoCancellation?: boolean;
  noiseSuppression?: boolean;
  autoGainControl?: boolean;
  /** Turns echo cancellation, noise suppression and gain control off (music, studio audio). */
  disableAudioProcessing?: boolean;
  /** Captures the microphone in two channels when it has them (and sends stereo Opus: see Publisher). */
  enableStereo?: boolean;
}

export interface Captured {
  audio: MediaStreamTrack | null;
  video: MediaStreamTrack | null;
  /** camera, screen (getDisplayMedia), custom (a track the app passed in). */
  videoKind: 'camera' | 'screen' | 'custom' | null;
  /** Tracks we opened (and so stop on destroy); tracks the app passed in are the app's. */
  owned: MediaStreamTrack[];
}

export function isScreenSource(source: unknown): boolean {
  return typeof source === 'string' && (SCREEN_SOURCES as readonly string[]).includes(source);
}

export function isTrack(value: unknown): value is MediaStreamTrack {
  return typeof MediaStreamTrack !== 'undefined' && value instanceof MediaStreamTrack;
}

function parseResolution(resolution: string | undefined): { width: number; height: number } {
  const m = /^(\d{2,5})x(\d{2,5})$/.exec(resolution ?? '');
  return m ? { width: Number(m[1]), height: Number(m[2]) } : { width: 640, height: 480 };
}

/** OpenTok.js's maxResolution range, per side. */
const MAX_RESOLUTION_MIN = 10;
const MAX_RESOLUTION_MAX = 1920;

/** The largest screen capture to send: maxResolution when valid (a warning otherwise), else resolution or 1920x1080. */
function screenBound(o: CaptureOptions): { width: number; height: number } {
  const max = o.maxResolution;
  if (max !== undefined) {
    const ok = (n: unknown): n is number => typeof n === 'number' && Number.isFinite(n) && n >= MAX_RESOLUTION_MIN && n <= MAX_RESOLUTION_MAX;
    if (max !== null && typeof max === 'object' && ok(max.width) && ok(max.height)) return { width: Math.round(max.width), height: Math.round(max.height) };
    log.warn(`initPublisher: maxResolution must be {width, height}, each ${MAX_RESOLUTION_MIN} to ${MAX_RESOLUTION_MAX}; ignoring ${JSON.stringify(max)}`);
  }
  return parseResolution(o.resolution ?? '1920x1080');
}

export function audioConstraints(source: AudioSourceOption, o: CaptureOptions): MediaTrackConstraints | false {
  if (source === null || source === false || isTrack(source)) return false;
  const processing = o.disableAudioProcessing ? false : undefined;
  const c: MediaTrackConstraints = {};
  if (typeof source === 'string' && source !== '') c.deviceId = { exact: source };
  const flag = (v: boolean | undefined) => (processing === false ? false : v);
  const ec = flag(o.echoCancellation);
  const ns = flag(o.noiseSuppression);
  const agc = flag(o.autoGainControl);
  if (ec !== undefined) c.echoCancellation = ec;
  if (ns !== undefined) c.noiseSuppression = ns;
  if (agc !== undefined) c.autoGainControl = agc;
  if (o.enableStereo === true) c.channelCount = { ideal: 2 };
  return c;
}

export function videoConstraints(source: VideoSourceOption, o: CaptureOptions): MediaTrackConstraints | false {
  if (source === null || source === false || isTrack(source) || isScreenSource(source)) return false;
  const { width, height } = parseResolution(o.resolution);
  const c: MediaTrackConstraints = { width: { ideal: width }, height: { ideal: height }, frameRate: { ideal: o.frameRate ?? 30 } };
  if (typeof source === 'string' && source !== '') c.deviceId = { exact: source };
  if (o.facingMode) c.facingMode = o.facingMode;
  return c;
}

/** Opens what the options ask for. Rejects with an OTError (1500, OpenTok's names). */
export async function capture(o: CaptureOptions): Promise<Captured> {
  const media = typeof navigator !== 'undefined' ? navigator.mediaDevices : undefined;
  const audio = audioConstraints(o.audioSource, o);
  const video = videoConstraints(o.videoSource, o);
  const owned: MediaStreamTrack[] = [];
  let audioTrack: MediaStreamTrack | null = isTrack(o.audioSource) ? o.audioSource : null;
  let videoTrack: MediaStreamTrack | null = isTrack(o.videoSource) ? o.videoSource : null;
  let videoKind: Captured['videoKind'] = videoTrack ? 'custom' : null;
  try {
    if (isScreenSource(o.videoSource)) {
      if (!media?.getDisplayMedia) throw publishError('OT_SCREEN_SHARING_NOT_SUPPORTED', 'Screen sharing is not supported in this browser');
      const { width, height } = screenBound(o);
      const screen = await media.getDisplayMedia({ video: { width: { max: width }, height: { max: height }, frameRate: { max: o.frameRate ?? 15 } }, audio: false });
      videoTrack = screen.getVideoTracks()[0] ?? null;
      if (videoTrack) owned.push(videoTrack);
      videoKind = 'screen';
    }
    if (audio !== false || video !== false) {
      if (!media?.getUserMedia) throw publishError('OT_NOT_SUPPORTED', 'This browser cannot capture media (no navigator.mediaDevices; is the page served over https?)');
      const stream = await media.getUserMedia({ audio, video });
      for (const track of stream.getTracks()) owned.push(track);
      audioTrack ??= stream.getAudioTracks()[0] ?? null;
      if (video !== false) {
        videoTrack = stream.getVideoTracks()[0] ?? null;
        videoKind = 'camera';
      }
    }
  } catch (err) {
    for (const track of owned) track.stop();
    throw mediaError(err, isScreenSource(o.videoSource));
  }
  return { audio: audioTrack, video: videoTrack, videoKind: videoTrack ? videoKind : null, owned };
}

/** A browser media error as OpenTok.js reports it (code 1500). */
export function mediaError(err: unknown, screen = false): OTError {
  if (err instanceof OTError) return err;
  const name = (err as { name?: string } | null)?.name ?? '';
  const message = (err as { message?: string } | null)?.message ?? String(err);
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
    case 'PermissionDeniedError':
      return publishError('OT_USER_MEDIA_ACCESS_DENIED', `${screen ? 'Screen sharing' : 'Camera and microphone'} access was denied: ${message}`);
    case 'NotFoundError':
    case 'DevicesNotFoundError':
      return publishError('OT_NO_DEVICES_FOUND', `No such camera or microphone: ${message}`);
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return publishError('OT_HARDWARE_UNAVAILABLE', `The camera or microphone is in use or unavailable: ${message}`);
    case 'OverconstrainedError':
    case 'ConstraintNotSatisfiedError':
      return publishError('OT_CONSTRAINTS_NOT_SATISFIED', `No device satisfies the constraints: ${message}`);
    default:
      return publishError(screen ? 'OT_UNABLE_TO_CAPTURE_SCREEN' : 'OT_UNABLE_TO_PUBLISH', message);
  }
}

export interface DeviceInfo {
  kind: 'audioInput' | 'videoInput';
  deviceId: string;
  label: string;
}

/** OT.getDevices: cameras and microphones (labels are empty until the page has had access). */
export async function listDevices(): Promise<DeviceInfo[]> {
  const media = typeof navigator !== 'undefined' ? navigator.mediaDevices : undefined;
  if (!media?.enumerateDevices) throw new OTError(2000, 'OT_NOT_SUPPORTED', 'This browser cannot list media devices');
  const devices = await media.enumerateDevices();
  return devices
    .filter((d) => d.kind === 'audioinput' || d.kind === 'videoinput')
    .map((d) => ({ kind: d.kind === 'audioinput' ? 'audioInput' : 'videoInput', deviceId: d.deviceId, label: d.label }));
}
