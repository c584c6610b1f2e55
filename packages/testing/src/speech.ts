// Spoken test audio for live captions: Debian's espeak-ng says a sentence, sox makes it a 16-bit
// mono WAV at the rate asked with silence before and after (so the recognizer's voice activity
// detection sees each phrase end), or raw 16 kHz PCM for feeding a recognizer directly. Nothing
// binary is committed: files go to a temp folder. The voice is espeak's Klatt variant, which
// pocketsphinx's US English model recognises best of espeak's voices (measured: the default voice
// gets almost no word right).

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readOggOpus } from './media-sources.js';

export const SPEECH_VOICE = 'en-us+klatt3';

export interface SpeechOptions {
  /** Sample rate of the file (default 48000, what Chromium's fake microphone plays best). */
  sampleRate?: number;
  /** Seconds of silence before and after the sentence (default 1 and 2). */
  padBefore?: number;
  padAfter?: number;
  /** espeak-ng words per minute (default 145). */
  wordsPerMinute?: number;
  voice?: string;
  /** Folder to write into (default a new temp folder). */
  dir?: string;
}

/** Speaks `text` into a WAV file; returns its path and the speech's length (seconds, without the padding). */
export function speechWav(text: string, options: SpeechOptions = {}): { path: string; speechSeconds: number } {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'colloquy-speech-'));
  const spoken = join(dir, `spoken-${Date.now()}-${Math.random().toString(36).slice(2, 8)}.wav`);
  const path = spoken.replace('spoken-', 'speech-');
  execFileSync('espeak-ng', ['-v', options.voice ?? SPEECH_VOICE, '-s', String(options.wordsPerMinute ?? 145), '-w', spoken, text]);
  const speechSeconds = Number(execFileSync('soxi', ['-D', spoken], { encoding: 'utf8' }).trim());
  execFileSync('sox', ['-D', spoken, '-r', String(options.sampleRate ?? 48000), '-c', '1', '-b', '16', '-e', 'signed-integer', path, 'pad', String(options.padBefore ?? 1), String(options.padAfter ?? 2)]);
  return { path, speechSeconds };
}

/** Raw 16 kHz 16-bit mono PCM of a spoken sentence (with silence around it), for a recognizer. */
export function speechPcm16k(text: string, options: Omit<SpeechOptions, 'sampleRate'> = {}): { pcm: Int16Array; speechSeconds: number } {
  const { path, speechSeconds } = speechWav(text, { ...options, sampleRate: 16000 });
  const raw = execFileSync('sox', ['-D', path, '-t', 'raw', '-r', '16000', '-c', '1', '-b', '16', '-e', 'signed-integer', '-L', '-'], { maxBuffer: 64 * 1024 * 1024 });
  const pcm = new Int16Array(raw.length / 2);
  for (let i = 0; i < pcm.length; i++) pcm[i] = raw.readInt16LE(i * 2);
  return { pcm, speechSeconds };
}

/**
 * A spoken sentence as Opus packets (48 kHz mono, 20 ms each, ffmpeg's libopus), with silence
 * around it, for a werift publisher (NodePublisher loops them): speech through the SFU without a browser.
 */
export function speechOpus(text: string, options: Omit<SpeechOptions, 'sampleRate'> = {}): Buffer[] {
  const { path } = speechWav(text, { ...options, sampleRate: 48000 });
  const ogg = path.replace(/\.wav$/, '.ogg');
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-i', path, '-c:a', 'libopus', '-b:a', '32k', '-frame_duration', '20', '-application', 'voip', '-f', 'ogg', ogg]);
  return readOggOpus(readFileSync(ogg));
}

/** Lower-case words of a text, without punctuation. */
export function words(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[^a-z' ]+/g, ' ')
    .split(/\s+/)
    .filter(Boolean);
}

/** How many of `expected`'s words occur in `heard` (each counted once). */
export function wordsHeard(expected: string, heard: string): { hit: string[]; total: number } {
  const got = new Set(words(heard));
  const want = [...new Set(words(expected))];
  return { hit: want.filter((w) => got.has(w)), total: want.length };
}

