// The signaling tests' client: @colloquy/testing's SignalingSocket, with a request that resolves
// with error replies too (these tests look at them) and shorter waits.

import { SignalingSocket, type Message } from '@colloquy/testing/protocol';

export type AnyMessage = Message;

export class WsClient extends SignalingSocket {
  override timeoutMs = 5000;

  /** Sends a request (an id is added unless given) and resolves with its response or error. */
  request(message: Record<string, unknown>, timeoutMs = this.timeoutMs): Promise<Message> {
    return this.tryRequest(message, timeoutMs);
  }
}

/** Resolves after `ms`. */
export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
