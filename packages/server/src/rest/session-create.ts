// POST /session/create (reference §1.2). A form (or JSON object) of optional fields; the answer is
// a JSON array for clients that accept JSON and the legacy XML document for clients that send no
// Accept header at all (the PHP SDK parses XML).

import { randomUUID } from 'node:crypto';
import { isIPv4 } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalid } from '../errors.js';
import { MAX_ARCHIVE_NAME_LENGTH, type CreateSessionOptions } from '../sessions/session-manager.js';
import { ARCHIVE_RESOLUTIONS, type ArchiveResolution, type SessionRecord } from '../store/index.js';
import { requireProject } from './auth.js';
import type { AppContext } from './context.js';

export async function sessionCreateRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  requireProject(app, ctx);
  app.post('/session/create', async (request, reply) => {
    const options = readCreateOptions(request.body);
    const record = await ctx.sessions.create(request.project, options);
    return sendCreated(request, reply, record);
  });
}

function field(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean' || typeof value === 'number') return String(value);
  if (typeof value !== 'string') throw invalid(`${name} must be a string`);
  return value;
}

/**
 * Reads the creation options. Fields other than these are ignored, not refused: opentok-node passes
 * through any option it is given and the PHP SDK adds `api_key` (reference §1.2).
 */
export function readCreateOptions(body: unknown): CreateSessionOptions {
  if (body === undefined || body === null) body = {};
  if (typeof body !== 'object' || Array.isArray(body)) throw invalid('Request body must be a form or a JSON object');
  const b = body as Record<string, unknown>;

  const p2p = field(b, 'p2p.preference') ?? 'disabled';
  if (p2p !== 'enabled' && p2p !== 'disabled') throw invalid('p2p.preference must be "enabled" (relayed) or "disabled" (routed)');

  const archiveMode = field(b, 'archiveMode') ?? 'manual';
  if (archiveMode !== 'manual' && archiveMode !== 'always') throw invalid('archiveMode must be "manual" or "always"');

  let location = field(b, 'location') ?? null;
  if (location === '' || location === 'null') location = null; // @vonage/video sends the string "null"
  if (location !== null && !isIPv4(location)) throw invalid('location must be an IPv4 address');

  const archiveName = field(b, 'archiveName') ?? null;
  if (archiveName !== null && archiveName.length > MAX_ARCHIVE_NAME_LENGTH) {
    throw invalid(`archiveName must be at most ${MAX_ARCHIVE_NAME_LENGTH} characters`);
  }

  const resolution = field(b, 'archiveResolution') ?? null;
  if (resolution !== null && !(ARCHIVE_RESOLUTIONS as readonly string[]).includes(resolution)) {
    throw invalid(`archiveResolution must be one of ${ARCHIVE_RESOLUTIONS.join(', ')}`);
  }

  const e2ee = field(b, 'e2ee') ?? 'false';
  if (e2ee !== 'true' && e2ee !== 'false') throw invalid('e2ee must be "true" or "false"');

  return {
    mediaMode: p2p === 'enabled' ? 'relayed' : 'routed',
    archiveMode,
    location,
    archiveName,
    archiveResolution: resolution as ArchiveResolution | null,
    e2ee: e2ee === 'true',
  };
}

/** Java's Date.toString() shape, which OpenTok answers with: "Fri Feb 14 05:14:54 UTC 2025". */
export function formatCreateDate(ms: number): string {
  const d = new Date(ms);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC ${d.getUTCFullYear()}`;
}

function wantsXml(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  if (accept === undefined || accept.trim() === '') return true;
  return !/application\/json|\*\/\*|application\/\*/.test(accept) && /xml/.test(accept);
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sendCreated(request: FastifyRequest, reply: FastifyReply, record: SessionRecord) {
  const createDt = formatCreateDate(record.createdAt);
  if (wantsXml(request)) {
    const xml =
      '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>' +
      `<sessions><Session><session_id>${escapeXml(record.id)}</session_id>` +
      `<partner_id>${escapeXml(record.projectId)}</partner_id>` +
      `<create_dt>${createDt}</create_dt></Session></sessions>`;
    return reply.type('application/xml').send(xml);
  }
  return reply.type('application/json').send([
    {
      session_id: record.id,
      project_id: record.projectId,
      partner_id: record.projectId,
      create_dt: createDt,
      session_status: null,
      status_invalid: null,
      media_server_hostname: null,
      media_server_url: '',
      messaging_server_url: null,
      messaging_url: null,
      symphony_address: null,
      properties: null,
      ice_server: null,
      ice_servers: null,
      session_segment_id: randomUUID(),
      ice_credential_expiration: 86100,
    },
  ]);
}
