// Why the server could not listen where it was told to, in the operator's terms. Apart from
// server.ts so that the CLI recognises it without loading the whole server (the small commands
// start in a fraction of the time).

import type { Config } from './config.js';

/** The server could not listen where it was told to: a one-line explanation for the operator. */
export class ListenError extends Error {
  override name = 'ListenError';
}

/** Why a listen failed, in the operator's terms (which variable to change), or null if not theirs to fix. */
export function listenError(err: unknown, config: Pick<Config, 'port' | 'host'>): ListenError | null {
  switch ((err as { code?: string }).code) {
    case 'EADDRINUSE':
      return new ListenError(`port ${config.port} is in use; set PORT=… to another port (or stop what is using it)`);
    case 'EACCES':
      return new ListenError(`port ${config.port} needs privileges on this machine; set PORT=… to 1024 or above`);
    case 'EADDRNOTAVAIL':
      return new ListenError(`HOST ${config.host} is not an address of this machine; set HOST=127.0.0.1 (this machine only) or HOST=0.0.0.0 (every interface)`);
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
      return new ListenError(`HOST ${config.host} does not resolve to an address; set HOST=127.0.0.1 or HOST=0.0.0.0`);
    default:
      return null;
  }
}

/** Why the SFU's one UDP port (COLLOQUY_RTC_PORT) could not be bound, or null if not the operator's to fix. */
export function rtcPortError(err: unknown, config: Pick<Config, 'rtcPort' | 'rtcTcpPort' | 'rtcListenIp'>): ListenError | null {
  const e = err as { code?: string; port?: number; syscall?: string };
  // The TCP mux reports its port (net's listen error); the UDP socket's bind error has none.
  if (config.rtcTcpPort !== null && e.syscall === 'listen' && (e.code === 'EADDRINUSE' || e.code === 'EACCES')) {
    return new ListenError(
      e.code === 'EADDRINUSE'
        ? `TCP port ${config.rtcTcpPort} (ICE-TCP media) is in use; set COLLOQUY_RTC_TCP_PORT=… to another port`
        : `TCP port ${config.rtcTcpPort} (ICE-TCP media) needs privileges on this machine; set COLLOQUY_RTC_TCP_PORT=… to 1024 or above`,
    );
  }
  switch (e.code) {
    case 'EADDRINUSE':
      return new ListenError(`UDP port ${config.rtcPort} (media) is in use; set COLLOQUY_RTC_PORT=… to another port, or COLLOQUY_RTC_MIN_PORT/COLLOQUY_RTC_MAX_PORT for a port per peer connection`);
    case 'EACCES':
      return new ListenError(`UDP port ${config.rtcPort} (media) needs privileges on this machine; set COLLOQUY_RTC_PORT=… to 1024 or above`);
    case 'EADDRNOTAVAIL':
      return new ListenError(`COLLOQUY_RTC_LISTEN_IP ${config.rtcListenIp} is not an address of this machine`);
    default:
      return null;
  }
}
