// zod schemas for every client message, and `parseClientMessage`, which the server runs on each
// text frame before anything else looks at it. A separate entry point
// (`@colloquy/protocol/schemas`) so the browser bundle, which only needs the types, carries no zod.

import { z } from 'zod';
import { ErrorCodes, type ErrorCode } from './errors.js';
import type {
  AckMessage,
  ClientMessage,
  ClientMessageType,
  ConnectRequest,
  DisconnectRequest,
  ForceDisconnectRequest,
  PingMessage,
  PongMessage,
  ResumeRequest,
  SignalRequest,
} from './messages.js';

/** Request ids: positive integers, increasing per connection. */
const requestId = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const seq = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);
const version = z.number().int().positive().max(1_000_000);
/** OpenTok session ids are at most 255 characters. */
const sessionId = z.string().min(1).max(255);
const connectionId = z.string().min(1).max(64);

export const ConnectRequestSchema: z.ZodType<ConnectRequest> = z.object({
  type: z.literal('connect'),
  id: requestId,
  version,
  sessionId,
  // A token with 1000 characters of connection data and a layout list stays well under 16 kB.
  token: z.string().min(1).max(16_384),
  apiKey: z.string().min(1).max(64).optional(),
  sdk: z.object({ name: z.string().max(64), version: z.string().max(64) }).optional(),
});

export const ResumeRequestSchema: z.ZodType<ResumeRequest> = z.object({
  type: z.literal('resume'),
  id: requestId,
  version,
  sessionId,
  connectionId,
  resumeSecret: z.string().min(1).max(128),
  lastSeq: seq,
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

export const PingSchema: z.ZodType<PingMessage> = z.object({ type: z.literal('ping'), ack: seq.optional() });
export const PongSchema: z.ZodType<PongMessage> = z.object({ type: z.literal('pong'), ack: seq.optional() });
export const AckSchema: z.ZodType<AckMessage> = z.object({ type: z.literal('ack'), seq });

export const CLIENT_MESSAGE_SCHEMAS: { [T in ClientMessageType]: z.ZodType<Extract<ClientMessage, { type: T }>> } = {
  connect: ConnectRequestSchema,
  resume: ResumeRequestSchema,
  signal: SignalRequestSchema,
  forceDisconnect: ForceDisconnectRequestSchema,
  disconnect: DisconnectRequestSchema,
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
