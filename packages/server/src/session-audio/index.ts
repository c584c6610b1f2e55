// Server-side audio of a session: taps of streams' audio as PCM, a session's mix on a 20 ms clock,
// and a server-side audio publisher. See README.md.
export { FRAME_48K, downsampleFrom48k, upsampleTo48k, pcmFromBuffer, type PcmRate } from './pcm.js';
export { StreamAudioTap, type PcmListener } from './stream-audio-tap.js';
export { SessionAudioMixer, type SessionAudioMixerOptions } from './session-audio-mixer.js';
export { SessionPublisher, publishAudioStream, OPUS_PAYLOAD_TYPE, VP8_PAYLOAD_TYPE } from './session-publisher.js';
