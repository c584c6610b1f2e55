// The JSON the dashboard API answers, shared with the front end: packages/dashboard imports it as
// `@colloquy/server/dashboard-api` (types, and the one constant its pages need; nothing here may
// import server code at run time, as it ends up in the browser bundle). Inspector shapes come from
// inspector/types.ts.

export { INSPECTOR_EVENT_TYPES } from '../inspector/types.js';

export type { ArchiveStorageView } from '../archiving/storage/storage-settings.js';
import type { ArchiveStorageView } from '../archiving/storage/storage-settings.js';

export type {
  ConnectionScore,
  EventPage,
  InspectorEvent,
  InspectorEventType,
  InspectorSessionSummary,
  LiveSessionSnapshot,
  Participant,
  QualityPoint,
  QualitySeries,
  QualityTrack,
  TrackScore,
} from '../inspector/types.js';

/** GET /dashboard/api/me, POST /dashboard/api/login. */
export type MeResponse = { signedIn: true; csrfToken: string; expiresAt: number } | { signedIn: false };

export interface ApiError {
  code: number;
  message: string;
}

export interface ProjectSummary {
  id: string;
  kind: 'project' | 'application';
  name: string;
  createdAt: number;
  sessions: number;
}

/** GET /dashboard/api/projects/:id (the operator may see secrets). */
export interface ProjectDetail extends ProjectSummary {
  /** API secret (projects). */
  secret: string | null;
  /** PEM public key (applications). */
  publicKey: string | null;
  /** Where archive status and session monitoring callbacks are POSTed (null: none). */
  callbacks: { archive: string | null; session: string | null };
  /** Where its archives are uploaded (OpenTok's archive storage), without the secret key; null: they stay on this server. */
  archiveStorage: ArchiveStorageView | null;
}

/** POST /dashboard/api/applications when the server generated the key pair: the private key, shown once. */
export interface CreatedApplication extends ProjectDetail {
  privateKey: string | null;
}

export interface SessionListItem {
  sessionId: string;
  mediaMode: 'routed' | 'relayed';
  archiveMode: 'manual' | 'always';
  createdAt: number;
  /** Inspector counters, when it has data. */
  lastActivityAt: number | null;
  connections: number;
  liveConnections: number;
  errors: number;
  /** The first connection the Inspector saw (its connection data tells who it was); null if nobody joined. */
  firstParticipant: { connectionId: string; data: string | null } | null;
}

/** POST /dashboard/api/projects/:id/tokens */
export interface TokenResponse {
  token: string;
  apiKey: string;
  sessionId: string;
  role: 'subscriber' | 'publisher' | 'publisheronly' | 'moderator';
  expireTime: number;
  /** Path of the test page, with the credentials in the fragment (never sent to the server). */
  testPageUrl: string;
}

export interface ArchiveItem {
  id: string;
  sessionId: string;
  name: string | null;
  /** OpenTok's archive status: started, paused, stopped, available, uploaded, failed, deleted, expired. */
  status: string;
  /** Why it stopped or failed, when it did. */
  reason: string | null;
  createdAt: number;
  /** Seconds recorded (so far, while it records). */
  duration: number;
  size: number;
  outputMode: 'composed' | 'individual';
  /** Composed archives only. */
  resolution: string | null;
  hasAudio: boolean;
  hasVideo: boolean;
  /** Relative signed link to play or download it while available or uploaded (expires like the REST API's `url`). */
  url: string | null;
  /** Its upload to the project's archive storage, if it had one: pending, uploaded, or failed with the last error. */
  upload: { state: 'pending' | 'uploaded' | 'failed'; bucket: string; error: string | null } | null;
}

export interface ArchiveList {
  /** How many archives the project has in all. */
  count: number;
  items: ArchiveItem[];
}

/** A live streaming broadcast as the dashboard's broadcast list and HLS player page show it. */
export interface BroadcastItem {
  id: string;
  sessionId: string;
  /** started | stopped */
  status: string;
  reason: string | null;
  createdAt: number;
  resolution: string;
  /** The HLS playlist as a path on this server (the page plays it from its own origin), or null without HLS. */
  hls: string | null;
  /** connecting | live | ended | error, or null without HLS. */
  hlsStatus: string | null;
  lowLatency: boolean;
  dvr: boolean;
  rtmp: Array<{ id: string; serverUrl: string; status: string }>;
}

export interface BroadcastList {
  /** How many broadcasts the project has in all. */
  count: number;
  items: BroadcastItem[];
}

/** GET /dashboard/api/projects/:id/sessions/:sid: everything the Inspector page shows but the charts. */
export interface InspectorSessionDetail {
  session: SessionListItem;
  summary: import('../inspector/types.js').InspectorSessionSummary | null;
  participants: import('../inspector/types.js').Participant[];
  live: import('../inspector/types.js').LiveSessionSnapshot | null;
}
