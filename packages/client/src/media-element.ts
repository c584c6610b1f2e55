// The DOM of a Publisher or Subscriber, as OpenTok.js lays it out: a container element (the
// object's `element`) holding the video element and a name label, inserted relative to a target
// element by insertMode (replace its contents, after, before, or append), sized by width/height
// (default 264x198). With insertDefaultUI: false nothing is inserted: the app gets the video
// element from `videoElementCreated` and places it.

import { log } from './logger.js';

export type InsertMode = 'replace' | 'after' | 'before' | 'append';

export interface ElementOptions {
  /** Default 'replace' (the target's contents are replaced). */
  insertMode?: InsertMode;
  /** Number (pixels) or a CSS length; default 264. */
  width?: number | string;
  /** Number (pixels) or a CSS length; default 198. */
  height?: number | string;
  /** 'cover' (default: fill, cropping) or 'contain' (letterbox). */
  fitMode?: 'cover' | 'contain';
  /** Default true: insert the container; false: only create the video element. */
  insertDefaultUI?: boolean;
  /** Show the name label (OpenTok's style.nameDisplayMode: 'auto' | 'on' | 'off'); default 'auto' (shown when there is a name). */
  style?: { nameDisplayMode?: 'auto' | 'on' | 'off' };
}

export interface MediaElement {
  /** The container (null with insertDefaultUI: false). */
  container: HTMLElement | null;
  video: HTMLVideoElement;
  setName(name: string): void;
  /** Shows the "no video" state (the name's initials on black) instead of the video. */
  setVideoDisabled(disabled: boolean): void;
  remove(): void;
}

let counter = 0;

function cssLength(value: number | string | undefined, fallback: number): string {
  if (typeof value === 'number' && Number.isFinite(value)) return `${value}px`;
  if (typeof value === 'string' && value.trim() !== '') return /^\d+$/.test(value) ? `${value}px` : value;
  return `${fallback}px`;
}

/** Resolves OpenTok's target argument: an element, an element id, or nothing (the body). */
export function resolveTarget(target: unknown): HTMLElement | null {
  if (typeof document === 'undefined') return null;
  if (target instanceof HTMLElement) return target;
  if (typeof target === 'string' && target !== '') {
    const found = document.getElementById(target);
    if (!found) log.warn(`no element with id "${target}": appending to the body`);
    return found;
  }
  return null;
}

export function createMediaElement(kind: 'publisher' | 'subscriber', target: unknown, options: ElementOptions, mirror: boolean): MediaElement {
  const video = document.createElement('video');
  video.autoplay = true;
  video.playsInline = true;
  video.muted = kind === 'publisher'; // never play your own microphone back
  video.className = 'OT_video-element';
  video.style.cssText = `width:100%;height:100%;object-fit:${options.fitMode === 'contain' ? 'contain' : 'cover'};${mirror ? 'transform:scaleX(-1);' : ''}`;
  if (options.insertDefaultUI === false) {
    return { container: null, video, setName() {}, setVideoDisabled() {}, remove: () => video.remove() };
  }
  const container = document.createElement('div');
  container.id = `OT_${kind}_${Date.now().toString(36)}_${++counter}`;
  container.className = `OT_root OT_${kind}`;
  container.style.cssText = `position:relative;overflow:hidden;background:#000;display:inline-block;width:${cssLength(options.width, 264)};height:${cssLength(options.height, 198)};`;
  const poster = document.createElement('div');
  poster.className = 'OT_video-poster';
  poster.style.cssText = 'position:absolute;inset:0;display:none;align-items:center;justify-content:center;color:#ccc;font:bold 32px sans-serif;background:#222;';
  const label = document.createElement('div');
  label.className = 'OT_name';
  label.style.cssText = 'position:absolute;left:0;right:0;bottom:0;padding:2px 6px;color:#fff;font:13px sans-serif;background:rgba(0,0,0,.45);white-space:nowrap;overflow:hidden;text-overflow:ellipsis;';
  container.append(video, poster, label);
  const mode = options.style?.nameDisplayMode ?? 'auto';
  const setName = (name: string) => {
    label.textContent = name;
    label.style.display = mode === 'off' || (mode === 'auto' && name === '') ? 'none' : 'block';
    poster.textContent = name
      .split(/\s+/)
      .filter(Boolean)
      .slice(0, 2)
      .map((w) => w[0]!.toUpperCase())
      .join('');
  };
  setName('');
  insert(container, resolveTarget(target), options.insertMode ?? 'replace');
  return {
    container,
    video,
    setName,
    setVideoDisabled(disabled) {
      poster.style.display = disabled ? 'flex' : 'none';
      container.classList.toggle('OT_audio-only', disabled);
    },
    remove: () => container.remove(),
  };
}

function insert(element: HTMLElement, target: HTMLElement | null, mode: InsertMode): void {
  if (!target) {
    document.body.appendChild(element);
    return;
  }
  switch (mode) {
    case 'after':
      target.after(element);
      return;
    case 'before':
      target.before(element);
      return;
    case 'append':
      target.appendChild(element);
      return;
    default:
      target.replaceChildren(element);
  }
}

/** Plays a video element; resolves false when autoplay policy blocked sound (it then plays muted). */
export async function play(video: HTMLVideoElement): Promise<boolean> {
  try {
    await video.play();
    return true;
  } catch (err) {
    if ((err as { name?: string }).name !== 'NotAllowedError' || video.muted) return true;
    video.muted = true;
    await video.play().catch(() => {});
    return false;
  }
}
