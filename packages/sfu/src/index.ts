// @colloquy/sfu's public surface. Nothing outside this package imports from werift or sees RTP/SDP
// internals: SDP strings pass through opaque, everything else is these objects and plain data.

export { MediaEngine, DEFAULT_MAX_INCOMING_BITRATE, type MediaEngineOptions, type MediaEngineEvents } from './media-engine.js';
export { Router, type RouterOptions, type RouterEvents } from './router.js';
export { PublisherTransport, type PublisherTransportEvents } from './publisher-transport.js';
export { SubscriberTransport, type SubscriberTransportEvents } from './subscriber-transport.js';
export { Producer, KEYFRAME_REQUEST_INTERVAL_MS, type ProducerEvents, type RtpListener } from './producer.js';
/**
 * The packet type RtpListener receives: our RtpView over the received bytes (the receive path's,
 * reused per packet: `copy()` what is kept). Its `header` is the view itself, so
 * `packet.header.timestamp` and `packet.payload` read as werift's did.
 */
export type { RtpView as RtpPacket } from './rtp-view.js';
export { Consumer, type ConsumerEvents } from './consumer.js';
/**
 * The router's producer → consumers map and the narrow interfaces Producer and Consumer see each
 * other through (router.forwarding; exported for bench/media/forward.bench.ts and tests).
 */
export { ForwardingTable, FanOut, type ConsumerSink, type ProducerSource, type ProducerOutput, type ProducerLayer } from './forwarding-table.js';
export { PipeTransport, type PipeAddress, type PipeProducerParams, type PipeTransportStats } from './pipe-transport.js';
/** Our SRTP/SRTCP (exported for benchmarks and tests of the packet path). */
export { SrtpSession, SrtpProfile, SrtpError, type SrtpKeyingMaterial } from './srtp/index.js';
/** @internal The subscriber send path over our SRTP, exported for bench/media/forward.bench.ts. */
export { SrtpSendPath, type SrtpImplementation } from './srtp-path.js';
/** One parse of a received RTP packet (the packet listeners get; also for bench/media/receive.bench.ts). */
export { RtpView } from './rtp-view.js';
export type { VideoCodecName } from './codecs.js';
export type { UplinkEstimation } from './bitrate-controller.js';
export { DEFAULT_UPLINK_ESTIMATION } from './bitrate-controller.js';
export type { CodecInfo, ConsumerStats, IceCandidateInit, MediaKind, ProducerStats, TransportState } from './types.js';
export { MediaError, type MediaErrorKind } from './errors.js';
/** The one typed event emitter (the server's domain objects emit through it too). */
export { TypedEmitter, reportListenerError, type EventMap, type ListenerErrorHandler } from './typed-emitter.js';
/** Opus's fmtp as offered to subscribers (a stereo publisher stays stereo). */
export { opusCodec } from './peer-config.js';

// Codec and RTP helpers for the server's own media code that is not the SFU's packet path:
// archiving (depacketizer, recorder) and the SIP gateway's video.
export { NAL, h264SpsSize } from './codecs/h264.js';
export { vp8DescriptorLength, vp8KeyframeSize } from './codecs/vp8.js';
export { isVp8KeyFrameStart, vp8Dimensions } from './codecs.js';
export { RetransmissionHistory } from './retransmission-history.js';
export { PayloadRing } from './payload-ring.js';
export { MAX_HEADER_LENGTH } from './rtp-rewriter.js';
export { isRtcp, rtpHeaderLength } from './srtp/index.js';
export { clockLagHistogram, everyPeriod, MEDIA_CLOCK_TICK_MS, mediaClockRunning, mediaClockTasks, type ClockLagHistogram, type ClockTask } from './media-clock.js';
export { transportsClosing } from './peer-transport.js';
