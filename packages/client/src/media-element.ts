// The DOM of a Publisher or Subscriber, as OpenTok.js lays it out: a container element (the
// object's `element`) holding the video element and a name label, inserted relative to a target
// element by insertMode (replace its contents, after, before, or append), sized by width/height
// (default 264x198). With insertDefaultUI: false nothing is inserted: the app gets the video
// element from `videoElementCreated` and places it. `style` (getStyle/setStyle) drives the name
// label and the background shown while video is off; `imageData` is getImgData's snapshot.

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
  /** OpenTok's style; nameDisplayMode 'auto' (default) shows the label when there is a name. */
  style?: Partial<ElementStyle>;
}

/**
 * OpenTok.js's Publisher/Subscriber `style`. This SDK's default UI has a name label and a
 * video-off poster: nameDisplayMode and backgroundImageURI change what it shows; the other keys are
 * kept and reported by getStyle (there are no buttons, audio meter or archive badge to hide).
 */
export interface ElementStyle {
  nameDisplayMode: 'auto' | 'on' | 'off';
  /** An image (URL or data: URI) behind the initials while video is off; '' for none. */
  backgroundImageURI: string;
  audioLevelDisplayMode: 'auto' | 'on' | 'off';
  archiveStatusDisplayMode: 'auto' | 'off';
  buttonDisplayMode: 'auto' | 'on' | 'off';
  videoDisabledDisplayMode: 'auto' | 'on' | 'off';
}

const STYLE_VALUES: { [K in keyof ElementStyle]: readonly string[] | 'string' } = {
  nameDisplayMode: ['auto', 'on', 'off'],
  backgroundImageURI: 'string',
  audioLevelDisplayMode: ['auto', 'on', 'off'],
  archiveStatusDisplayMode: ['auto', 'off'],
  buttonDisplayMode: ['auto', 'on', 'off'],
  videoDisabledDisplayMode: ['auto', 'on', 'off'],
};

export const DEFAULT_STYLE: Readonly<ElementStyle> = {
  nameDisplayMode: 'auto',
  backgroundImageURI: '',
  audioLevelDisplayMode: 'auto',
  archiveStatusDisplayMode: 'auto',
  buttonDisplayMode: 'auto',
  videoDisabledDisplayMode: 'auto',
};

/**
 * `current` with setStyle's changes: (key, value) or an object of them. Unknown keys and values
 * outside OpenTok's are ignored with a warning, as OpenTok.js does.
 */
export function mergeStyle(current: ElementStyle, keyOrStyle: unknown, value?: unknown): ElementStyle {
  const changes: Record<string, unknown> = typeof keyOrStyle === 'string' ? { [keyOrStyle]: value } : keyOrStyle && typeof keyOrStyle === 'object' ? (keyOrStyle as Record<string, unknown>) : {};
  const next: ElementStyle = { ...current };
  for (const [key, v] of Object.entries(changes)) {
    const allowed = STYLE_VALUES[key as keyof ElementStyle];
    if (!allowed) {
      log.warn(`setStyle: unknown style "${key}"`);
    } else if (allowed === 'string' ? typeof v === 'string' : allowed.includes(v as string)) {
      (next as unknown as Record<string, unknown>)[key] = v;
    } else {
      log.warn(`setStyle: ${key} cannot be ${JSON.stringify(v)}`);
    }
  }
  return next;
}

/** The video's current frame as a base64 PNG without the data: prefix (getImgData); null before the first frame. */
export function imageData(video: HTMLVideoElement): string | null {
  const width = video.videoWidth;
  const height = video.videoHeight;
  if (!width || !height) return null;
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  if (!ctx) return null;
  ctx.drawImage(video, 0, 0, width, height);
  return canvas.toDataURL('image/png').replace(/^data:image\/png;base64,/, '');
}

export interface MediaElement {
  /** The container (null with insertDefaultUI: false). */
  container: HTMLElement | null;
  video: HTMLVideoElement;
  setName(name: string): void;
  /** Applies a style (the name label and the video-off background; see ElementStyle). */
  setStyle(style: ElementStyle): void;
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
    return { container: null, video, setName() {}, setStyle() {}, setVideoDisabled() {}, remove: () => video.remove() };
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
  let style: ElementStyle = mergeStyle(DEFAULT_STYLE, options.style ?? {});
  let currentName = '';
  const setName = (name: string) => {
    currentName = name;
    const mode = style.nameDisplayMode;
    label.textContent = name;
    label.style.display = mode === 'off' || (mode === 'auto' && name === '') ? 'none' : 'block';
    poster.textContent = name
      .split(/\s+/)
      .filter(Boolean)
      .slice(0, 2)
      .map((w) => w[0]!.toUpperCase())
      .join('');
  };
  const setStyle = (next: ElementStyle) => {
    style = next;
    poster.style.backgroundImage = style.backgroundImageURI ? `url(${JSON.stringify(style.backgroundImageURI)})` : '';
    poster.style.backgroundSize = 'cover';
    poster.style.backgroundPosition = 'center';
    setName(currentName);
  };
  setStyle(style);
  insert(container, resolveTarget(target), options.insertMode ?? 'replace');
  return {
    container,
    video,
    setName,
    setStyle,
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
