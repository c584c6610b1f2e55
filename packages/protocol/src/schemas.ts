// zod schemas for every client message, and `parseClientMessage`, which the server runs on each
// text frame before anything else looks at it. A separate entry point
// (`@colloquy/protocol/schemas`) so the browser bundle, which only needs the types, carries no zod.

import { z } from 'zod';
import { ErrorCodes, type ErrorCode } from './errors.js';
import type {
  AckMessage,
  AnswerRequest,
  ClientErrorMessage,
  ClientMessage,
  ClientMessageType,
  ClientStatsMessage,
  ConnectRequest,
  DisableForceMuteRequest,
  DisconnectRequest,
  ForceDisconnectRequest,
  ForceMuteAllRequest,
  ForceMuteStreamRequest,
  ForceUnpublishRequest,
  IceCandidateRequest,
  PingMessage,
  PongMessage,
  PublishRequest,
  RelayRequest,
  ResumeRequest,
  SignalRequest,
  SubscribeRequest,
  UnpublishRequest,
  UnsubscribeRequest,
  UpdateStreamRequest,
  UpdateSubscriberRequest,
} from './messages.js';

/** Request ids: positive integers, increasing per connection. */
const requestId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const seq = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const version = z.number().int().positive().max(1_000_000);
/** OpenTok session ids are at most 255 characters. */
const sessionId = z.string().min(1).max(255);
const connectionId = z.string().min(1).max(64);
const streamId = z.string().min(1).max(64);
const subscriberId = z.string().min(1).max(64);

/** Largest SDP accepted in a message: a browser's offer with audio and video is 4-8 KB. */
export const MAX_SDP_BYTES = 32 * 1024;
const sdp = z.string().min(1).max(MAX_SDP_BYTES);
const videoType = z.enum(['camera', 'screen', 'custom']);
const videoDimensions = z.object({ width: z.number().int().min(1).max(16_384), height: z.number().int().min(1).max(16_384) });
/** A preferred frame rate: frames per second, positive and finite (1000 is far above any camera). */
const preferredFrameRate = z.number().positive().max(1000);
const iceCandidate = z.object({
  candidate: z.string().max(1024),
  sdpMid: z.string().max(64).nullable().optional(),
  sdpMLineIndex: z.number().int().min(0).max(1024).nullable().optional(),
  usernameFragment: z.string().max(256).nullable().optional(),
});

export const ConnectRequestSchema: z.ZodType<ConnectRequest> = z.object({
  type: z.literal('connect'),
  id: requestId,
  version,
  sessionId,
  // A token with 1000 characters of connection data and a layout list stays well under 16 kB.
  token: z.string().min(1).max(16_384),
  apiKey: z.string().min(1).max(64).optional(),
  sdk: z.object({ name: z.string().max(64), version: z.string().max(64) }).optional(),
  connectionEventsSuppressed: z.boolean().optional(),
  versions: z.array(z.number().int().positive().max(1000)).max(16).optional(),
});

export const ResumeRequestSchema: z.ZodType<ResumeRequest> = z.object({
  type: z.literal('resume'),
  id: requestId,
  version,
  sessionId,
  connectionId,
  resumeSecret: z.string().min(1).max(128),
  lastSeq: seq,
  lastBseq: seq.optional(),
});

// Signal type and data are checked by checkSignal afterwards, so that a long type is a 413 and a
// bad character a 400, as OpenTok answers; here only their JSON types (and a loose bound).
export const SignalRequestSchema: z.ZodType<SignalRequest> = z.object({
  type: z.literal('signal'),
  id: requestId,
  to: connectionId.optional(),
  signalType: z.string().max(4096).optional(),
  data: z.string().optional(),
});

export const ForceDisconnectRequestSchema: z.ZodType<ForceDisconnectRequest> = z.object({
  type: z.literal('forceDisconnect'),
  id: requestId,
  connectionId,
});

export const DisconnectRequestSchema: z.ZodType<DisconnectRequest> = z.object({
  type: z.literal('disconnect'),
  id: requestId,
});

export const PublishRequestSchema: z.ZodType<PublishRequest> = z.object({
  type: z.literal('publish'),
  id: requestId,
  name: z.string().max(1000).optional(),
  videoType: videoType.nullable().optional(),
  hasAudio: z.boolean(),
  hasVideo: z.boolean(),
  videoDimensions: videoDimensions.nullable().optional(),
  frameRate: z.number().min(0).max(240).nullable().optional(),
  sdp: sdp.optional(),
  e2ee: z.boolean().optional(),
  publishCaptions: z.boolean().optional(),
  audioFallback: z.object({ publisher: z.boolean().optional(), subscriber: z.boolean().optional() }).optional(),
});

export const UnpublishRequestSchema: z.ZodType<UnpublishRequest> = z.object({
  type: z.literal('unpublish'),
  id: requestId,
  streamId,
  reason: z.literal('mediaStopped').optional(),
});

export const UpdateStreamRequestSchema: z.ZodType<UpdateStreamRequest> = z.object({
  type: z.literal('updateStream'),
  id: requestId,
  streamId,
  hasAudio: z.boolean().optional(),
  hasVideo: z.boolean().optional(),
  videoDimensions: videoDimensions.optional(),
  publishCaptions: z.boolean().optional(),
  videoDisabledForQuality: z.boolean().optional(),
});

export const SubscribeRequestSchema: z.ZodType<SubscribeRequest> = z.object({
  type: z.literal('subscribe'),
  id: requestId,
  streamId,
  subscribeToAudio: z.boolean().optional(),
  subscribeToVideo: z.boolean().optional(),
  preferredResolution: videoDimensions.nullable().optional(),
  preferredFrameRate: preferredFrameRate.nullable().optional(),
  subscribeToCaptions: z.boolean().optional(),
  audioFallbackEnabled: z.boolean().optional(),
});

export const AnswerRequestSchema: z.ZodType<AnswerRequest> = z.object({ type: z.literal('answer'), id: requestId, subscriberId, sdp });

export const UpdateSubscriberRequestSchema: z.ZodType<UpdateSubscriberRequest> = z.object({
  type: z.literal('updateSubscriber'),
  id: requestId,
  subscriberId,
  subscribeToAudio: z.boolean().optional(),
  subscribeToVideo: z.boolean().optional(),
  preferredResolution: videoDimensions.nullable().optional(),
  preferredFrameRate: preferredFrameRate.nullable().optional(),
  subscribeToCaptions: z.boolean().optional(),
});

export const UnsubscribeRequestSchema: z.ZodType<UnsubscribeRequest> = z.object({ type: z.literal('unsubscribe'), id: requestId, subscriberId });

export const IceCandidateRequestSchema: z.ZodType<IceCandidateRequest> = z
  .object({
    type: z.literal('iceCandidate'),
    id: requestId,
    streamId: streamId.optional(),
    subscriberId: subscriberId.optional(),
    candidate: iceCandidate.nullable(),
  })
  .refine((m) => (m.streamId === undefined) !== (m.subscriberId === undefined), { message: 'exactly one of streamId and subscriberId' });

export const RelayRequestSchema: z.ZodType<RelayRequest> = z
  .object({
    type: z.literal('relay'),
    id: requestId,
    subscriberId,
    description: z.object({ type: z.enum(['offer', 'answer']), sdp }).optional(),
    candidate: iceCandidate.nullable().optional(),
  })
  .refine((m) => (m.description === undefined) !== (m.candidate === undefined), { message: 'exactly one of description and candidate' });

export const ForceUnpublishRequestSchema: z.ZodType<ForceUnpublishRequest> = z.object({ type: z.literal('forceUnpublish'), id: requestId, streamId });
export const ForceMuteStreamRequestSchema: z.ZodType<ForceMuteStreamRequest> = z.object({ type: z.literal('forceMuteStream'), id: requestId, streamId });
export const ForceMuteAllRequestSchema: z.ZodType<ForceMuteAllRequest> = z.object({
  type: z.literal('forceMuteAll'),
  id: requestId,
  excludedStreamIds: z.array(streamId).max(1000).optional(),
});
export const DisableForceMuteRequestSchema: z.ZodType<DisableForceMuteRequest> = z.object({ type: z.literal('disableForceMute'), id: requestId });

const nonNegative = (max: number) => z.number().finite().min(0).max(max);
export const ClientStatsMessageSchema: z.ZodType<ClientStatsMessage> = z.object({
  type: z.literal('clientStats'),
  tracks: z
    .array(
      z.object({
        streamId: streamId.optional(),
        direction: z.enum(['send', 'receive']),
        kind: z.enum(['audio', 'video']),
        bitrate: nonNegative(1e9),
        packetLoss: nonNegative(1),
        jitterMs: nonNegative(60_000).optional(),
        rttMs: nonNegative(60_000).optional(),
        frameRate: nonNegative(1000).optional(),
        width: z.number().int().min(0).max(16_384).optional(),
        height: z.number().int().min(0).max(16_384).optional(),
        nackCount: z.number().int().min(0).max(1e9).optional(),
        pliCount: z.number().int().min(0).max(1e9).optional(),
      }),
    )
    .max(32),
});

export const ClientErrorMessageSchema: z.ZodType<ClientErrorMessage> = z.object({
  type: z.literal('clientError'),
  code: z.union([z.number().int(), z.string().max(64)]).optional(),
  name: z.string().max(64).optional(),
  message: z.string().max(1000),
  streamId: streamId.optional(),
});

export const PingSchema: z.ZodType<PingMessage> = z.object({ type: z.literal('ping'), ack: seq.optional(), bseqAck: seq.optional() });
export const PongSchema: z.ZodType<PongMessage> = z.object({ type: z.literal('pong'), ack: seq.optional(), bseqAck: seq.optional() });
export const AckSchema: z.ZodType<AckMessage> = z.object({ type: z.literal('ack'), seq: seq.optional(), bseq: seq.optional() });

export const CLIENT_MESSAGE_SCHEMAS: { [T in ClientMessageType]: z.ZodType<Extract<ClientMessage, { type: T }>> } = {
  connect: ConnectRequestSchema,
  resume: ResumeRequestSchema,
  signal: SignalRequestSchema,
  forceDisconnect: ForceDisconnectRequestSchema,
  disconnect: DisconnectRequestSchema,
  publish: PublishRequestSchema,
  unpublish: UnpublishRequestSchema,
  updateStream: UpdateStreamRequestSchema,
  subscribe: SubscribeRequestSchema,
  answer: AnswerRequestSchema,
  updateSubscriber: UpdateSubscriberRequestSchema,
  unsubscribe: UnsubscribeRequestSchema,
  iceCandidate: IceCandidateRequestSchema,
  relay: RelayRequestSchema,
  forceUnpublish: ForceUnpublishRequestSchema,
  forceMuteStream: ForceMuteStreamRequestSchema,
  forceMuteAll: ForceMuteAllRequestSchema,
  disableForceMute: DisableForceMuteRequestSchema,
  clientStats: ClientStatsMessageSchema,
  clientError: ClientErrorMessageSchema,
  ping: PingSchema,
  pong: PongSchema,
  ack: AckSchema,
};

export type ParseResult =
  | { ok: true; message: ClientMessage }
  | { ok: false; code: ErrorCode; message: string; /** The request id, when one could be read. */ re?: number };

/** Parses one text frame into a valid client message, or says precisely what is wrong with it. */
export function parseClientMessage(text: string): ParseResult {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { ok: false, code: ErrorCodes.MALFORMED_MESSAGE, message: 'message is not valid JSON' };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, code: ErrorCodes.MALFORMED_MESSAGE, message: 'message must be a JSON object' };
  }
  const record = raw as Record<string, unknown>;
  const re = requestId.safeParse(record['id']).success ? (record['id'] as number) : undefined;
  const type = record['type'];
  if (typeof type !== 'string') {
    return { ok: false, code: ErrorCodes.MALFORMED_MESSAGE, message: 'message has no "type"', re };
  }
  if (!Object.hasOwn(CLIENT_MESSAGE_SCHEMAS, type)) {
    return { ok: false, code: ErrorCodes.UNKNOWN_MESSAGE_TYPE, message: `unknown message type ${JSON.stringify(type.slice(0, 64))}`, re };
  }
  const result = CLIENT_MESSAGE_SCHEMAS[type as ClientMessageType].safeParse(raw);
  if (!result.success) {
    const detail = result.error.issues
      .map((issue) => (issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message))
      .join('; ');
    return { ok: false, code: ErrorCodes.INVALID_PARAMETER, message: `invalid ${type}: ${detail}`, re };
  }
  return { ok: true, message: result.data };
}
