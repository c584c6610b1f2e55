// The signaling tests' client: @colloquy/testing's SignalingSocket, with a request that resolves
// with error replies too (these tests look at them), shorter waits, and a protocol v2 join.

import { PROTOCOL_VERSIONS } from '@colloquy/protocol';
import { SignalingSocket, type Message } from '@colloquy/testing/protocol';

export type AnyMessage = Message;

export class WsClient extends SignalingSocket {
  override timeoutMs = 5000;

  /** Joins speaking protocol v2 (session-wide events numbered by `bseq`, connection events batched). */
  static joinV2(baseUrl: string, sessionId: string, token: string, extra: Record<string, unknown> = {}): Promise<WsClient> {
    return WsClient.join(baseUrl, sessionId, token, {}, { versions: PROTOCOL_VERSIONS, ...extra });
  }

  /** Sends a request (an id is added unless given) and resolves with its response or error. */
  request(message: Record<string, unknown>, timeoutMs = this.timeoutMs): Promise<Message> {
    return this.tryRequest(message, timeoutMs);
  }
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
