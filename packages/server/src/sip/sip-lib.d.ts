// Types for the parts of the `sip` npm package (RFC 3261 parser, UDP/TCP/TLS transports,
// transactions) and its `sip/digest` module that the SIP user agent uses. The package ships none.

declare module 'sip' {
  export interface SipUri {
    schema?: string;
    user?: string;
    password?: string;
    host: string;
    port?: number;
    params: Record<string, string | null | undefined>;
    headers: Record<string, string>;
  }
  export interface NameAddr {
    name?: string;
    uri: string;
    params: Record<string, string | undefined>;
  }
  export interface Via {
    version: string;
    protocol: string;
    host: string;
    port?: number;
    params: Record<string, string | undefined>;
  }
  export interface SipHeaders {
    via?: Via[];
    to: NameAddr;
    from: NameAddr;
    'call-id': string;
    cseq: { seq: number; method: string };
    contact?: NameAddr[];
    'record-route'?: NameAddr[];
    route?: NameAddr[];
    'content-type'?: string;
    'www-authenticate'?: unknown[];
    'proxy-authenticate'?: unknown[];
    [header: string]: unknown;
  }
  export interface SipRequest {
    method: string;
    uri: string;
    version?: string;
    headers: SipHeaders;
    content?: string;
  }
  export interface SipResponse {
    status: number;
    reason: string;
    version?: string;
    headers: SipHeaders;
    content?: string;
  }
  export type SipMessage = SipRequest | SipResponse;
  export interface Remote {
    protocol: string;
    address: string;
    port: number;
  }
  export interface StackOptions {
    port?: number;
    address?: string;
    hostname?: string;
    publicAddress?: string;
    udp?: boolean;
    tcp?: boolean;
    tls?: Record<string, unknown>;
    tls_port?: number;
    logger?: { send?: (m: SipMessage, target: Remote) => void; recv?: (m: SipMessage, remote: Remote) => void; error?: (e: unknown) => void };
  }
  export interface SipStack {
    send(message: SipMessage, callback?: (response: SipResponse) => void): void;
    /** Ends every transaction and closes the sockets. */
    destroy(): void;
  }
  export function create(options: StackOptions, onRequest: (request: SipRequest, remote: Remote) => void): SipStack;
  export function makeResponse(request: SipRequest, status: number, reason?: string): SipResponse;
  export function parseUri(uri: string): SipUri | undefined;
  export function stringifyUri(uri: SipUri | string): string;
  export function stringify(message: SipMessage): string;
  export function copyMessage<T extends SipMessage>(message: T, deep?: boolean): T;
  const sip: {
    create: typeof create;
    makeResponse: typeof makeResponse;
    parseUri: typeof parseUri;
    stringifyUri: typeof stringifyUri;
    stringify: typeof stringify;
    copyMessage: typeof copyMessage;
  };
  export default sip;
}

declare module 'sip/digest.js' {
  import type { SipRequest, SipResponse } from 'sip';
  /** Per-dialog state the module keeps between challenges (nonce count, realm). */
  export type DigestContext = Record<string, unknown>;
  export function signRequest(context: DigestContext, request: SipRequest, response: SipResponse, credentials: { user: string; password: string }): SipRequest;
  export function challenge(context: DigestContext, response: SipResponse): SipResponse;
  export function authenticateRequest(context: DigestContext, request: SipRequest, credentials: { user: string; password: string }): boolean;
  const digest: { signRequest: typeof signRequest; challenge: typeof challenge; authenticateRequest: typeof authenticateRequest };
  export default digest;
}
