// Speaker selection (OT.getAudioOutputDevices, OT.setAudioOutputDevice,
// OT.getActiveAudioOutputDevice): the chosen output applies to every subscriber of the page, those
// playing now and those made later, through HTMLMediaElement.setSinkId.

import { ExceptionCodes, OTError, invalidParameter } from './errors.js';

export interface AudioOutputDevice {
  deviceId: string;
  label: string;
}

/** The output chosen with setAudioOutputDevice; '' is the browser's default. */
let activeDeviceId = '';

export function activeAudioOutputId(): string {
  return activeDeviceId;
}

type SinkElement = HTMLMediaElement & { setSinkId?: (id: string) => Promise<void> };

export function supportsAudioOutputSelection(): boolean {
  return typeof HTMLMediaElement !== 'undefined' && typeof (HTMLMediaElement.prototype as SinkElement).setSinkId === 'function';
}

export async function audioOutputDevices(): Promise<AudioOutputDevice[]> {
  if (typeof navigator === 'undefined' || !navigator.mediaDevices?.enumerateDevices) return [];
  const devices = await navigator.mediaDevices.enumerateDevices();
  return devices.filter((d) => d.kind === 'audiooutput').map((d) => ({ deviceId: d.deviceId, label: d.label }));
}

/** Sends `element`'s sound to the active output (a no-op for the default or where unsupported). */
export async function applyAudioOutput(element: HTMLMediaElement, deviceId = activeDeviceId): Promise<void> {
  const sink = element as SinkElement;
  if (!supportsAudioOutputSelection() || (deviceId === '' && !sink.sinkId)) return;
  await sink.setSinkId!(deviceId);
}

/** Makes `deviceId` the page's output and moves `elements` (every live subscriber's) to it. */
export async function setAudioOutput(deviceId: string, elements: HTMLMediaElement[]): Promise<void> {
  if (typeof deviceId !== 'string') throw invalidParameter('setAudioOutputDevice: a deviceId from OT.getAudioOutputDevices()');
  if (!supportsAudioOutputSelection()) throw new OTError(ExceptionCodes.INVALID_PARAMETER, 'OT_UNSUPPORTED_BROWSER', 'This browser cannot choose the audio output device');
  const id = deviceId === 'default' ? '' : deviceId;
  if (id !== '' && !(await audioOutputDevices()).some((d) => d.deviceId === id)) {
    throw invalidParameter(`setAudioOutputDevice: no audio output device "${deviceId}"`);
  }
  for (const element of elements) await applyAudioOutput(element, id);
  activeDeviceId = id;
}

/** The output in use: the one chosen, or the browser's default. */
export async function activeAudioOutput(): Promise<AudioOutputDevice> {
  const devices = await audioOutputDevices();
  const found = devices.find((d) => d.deviceId === (activeDeviceId || 'default')) ?? devices[0];
  return found ?? { deviceId: activeDeviceId || 'default', label: '' };
}
