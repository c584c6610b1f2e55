// What every HTTP plugin is given: the parts of the server it may call.

import type { AudioConnector } from '../audio-connector/audio-connector.js';
import type { ArchiveManager } from '../archiving/archive-manager.js';
import type { BroadcastManager } from '../broadcast/broadcast-manager.js';
import type { CaptionsManager } from '../captions/captions-manager.js';
import type { ClusterNode } from '../cluster/index.js';
import type { Config } from '../config.js';
import type { Inspector } from '../inspector/inspector.js';
import type { Logger } from '../logger.js';
import type { OpsContext } from '../ops/routes.js';
import type { SessionManager } from '../sessions/session-manager.js';
import type { RenderManager } from '../render/render-manager.js';
import type { SipGateway } from '../sip/sip-gateway.js';
import type { ServerStore as Store } from '../server-store.js';

export interface AppContext {
  config: Config;
  logger: Logger;
  store: Store;
  sessions: SessionManager;
  inspector: Inspector;
  archives: ArchiveManager;
  /** Live streaming broadcasts (HLS, RTMP). */
  broadcasts: BroadcastManager;
  /** /readyz and /metrics; left out by tests that build a bare app. */
  ops?: OpsContext;
  /** SIP interconnect (dial, play-dtmf); left out by tests that build a bare app (those routes answer 501). */
  sip?: SipGateway;
  /** Live captions (captions/); left out by tests that build a bare app (no /captions routes then). */
  captions?: CaptionsManager;
  /** Experience Composer renders; left out by tests that build a bare app (the /render paths are then 404). */
  renders?: RenderManager;
  /** Audio Connector (connect, stop); left out by tests that build a bare app (those routes answer 501/404). */
  audioConnector?: AudioConnector;
  /** Cluster mode (cluster/): REST forwarding and signaling routing to a session's home node; absent on a single node. */
  cluster?: ClusterNode;
}
