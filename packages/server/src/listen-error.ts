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
