// What every HTTP plugin is given: the parts of the server it may call.

import type { AudioConnector } from '../audio-connector/audio-connector.js';
import type { ArchiveManager } from '../archiving/archive-manager.js';
import type { Config } from '../config.js';
import type { Inspector } from '../inspector/inspector.js';
import type { Logger } from '../logger.js';
import type { OpsContext } from '../ops/routes.js';
import type { SessionManager } from '../sessions/session-manager.js';
import type { SipGateway } from '../sip/sip-gateway.js';
import type { Store } from '../store/index.js';

export interface AppContext {
  config: Config;
  logger: Logger;
  store: Store;
  sessions: SessionManager;
  inspector: Inspector;
  archives: ArchiveManager;
  /** /readyz and /metrics; left out by tests that build a bare app. */
  ops?: OpsContext;
  /** SIP interconnect (dial, play-dtmf); left out by tests that build a bare app (those routes answer 501). */
  sip?: SipGateway;
  /** Audio Connector (connect, stop); left out by tests that build a bare app (those routes answer 501/404). */
  audioConnector?: AudioConnector;
}
