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

export interface Participant {
  /** Publishes one stream: our offer in, the server's answer and the stream's id out. */
  publish(offer: string): Promise<{ streamId: string; answer: string }>;
  subscribe(streamId: string): Promise<Subscription>;
  /** Leaves the session; the server ends what this participant published and subscribed. */
  leave(): Promise<void>;
}

export interface Target {
  readonly name: string;
  /** A new participant in `session` (an id that `createSessions` returned). */
  join(session: string, displayName: string): Promise<Participant>;
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
      /**
       * The bench server's test-only media endpoint (bench/servers/colloquy-bench-server.ts), which
       * bypasses signaling for SDP only: for servers whose protocol has no publish/subscribe yet.
       * Without it, SDP goes over each participant's signaling WebSocket.
       */
      mediaEndpoint?: string;
    }
  | {
      kind: 'janus';
      /** ws:// URL of Janus's WebSocket transport. */
      url: string;
    };

export function describeTarget(spec: TargetSpec): string {
  if (spec.kind === 'janus') return `Janus VideoRoom at ${spec.url}`;
  return `Colloquy at ${spec.url}${spec.mediaEndpoint ? ` (media SDP through the bench endpoint ${spec.mediaEndpoint}, bypassing signaling)` : ' (publish/subscribe over signaling)'}`;
}
