// What the load tool needs from a server under test, whatever it is: sessions (rooms) made by an
// app server, and participants that join one through the server's front door and publish or
// subscribe with SDP. Colloquy (colloquy.ts) and Janus VideoRoom (janus.ts) implement it, so the
// same publishers and subscribers drive both.

export interface Subscription {
  /** The server's SDP offer (both servers offer to subscribers). */
  offer: string;
  /** Completes the negotiation with our answer. */
  answer(sdp: string): Promise<void>;
  /** Ends this subscription (server side). */
  close(): Promise<void>;
}

/** What a publisher tells the server about its video (OpenTok's stream properties). */
export interface PublishInfo {
  width: number;
  height: number;
  frameRate: number;
}

export interface Participant {
  /** Publishes one stream: our offer in, the server's answer and the stream's id out. */
  publish(offer: string, info: PublishInfo): Promise<{ streamId: string; answer: string }>;
  /** Stops publishing a stream (after a publish whose media never connected). */
  unpublish(streamId: string): Promise<void>;
  subscribe(streamId: string): Promise<Subscription>;
  /** Leaves the session; the server ends what this participant published and subscribed. */
  leave(): Promise<void>;
  /**
   * Set by the load tool: called when the server ends one of this participant's streams or
   * subscriptions on its own (a transport it gave up on, a hangup), with the server's reason.
   */
  onServerEnded?: (what: 'stream' | 'subscription', reason: string) => void;
}

export interface Target {
  readonly name: string;
  /**
   * A new participant in `session` (an id that `createSessions` returned). `url`: join through
   * another front door of the same server (a Colloquy cluster's other node) instead of the spec's.
   */
  join(session: string, displayName: string, url?: string): Promise<Participant>;
  close(): Promise<void>;
}

/** How to reach a server; plain data, so the coordinator can hand it to worker processes. */
export type TargetSpec =
  | {
      kind: 'colloquy';
      /** http(s) base URL of the REST API and signaling. */
      url: string;
      apiKey: string;
      apiSecret: string;
    }
  | {
      kind: 'janus';
      /** ws:// URL of Janus's WebSocket transport. */
      url: string;
    };

export function describeTarget(spec: TargetSpec): string {
  if (spec.kind === 'janus') return `Janus VideoRoom at ${spec.url}`;
  return `Colloquy at ${spec.url}`;
}
