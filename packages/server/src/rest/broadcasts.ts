// Live streaming broadcasts by REST (OpenTok's /broadcast family): start, stop, get, list, layout,
// manual streams. Each route validates, calls the BroadcastManager, and answers OpenTok's broadcast
// JSON. Success codes as OpenTok's SDKs expect them: 200 with the broadcast (start, stop, get,
// layout), 204 for stream changes.

import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { validateLayout } from '../archiving/layout.js';
import { broadcastJson } from '../broadcast/broadcast-json.js';
import type { BroadcastRecord } from '../broadcast/broadcast-store.js';
import { MAX_RTMP_TARGETS } from '../broadcast/broadcast-manager.js';
import { invalid } from '../errors.js';
import { LayoutBody, ListQuery, StreamsBody } from './archives.js';
import type { AppContext } from './context.js';
import { parseWith } from './validation.js';

/** SDKs send absent options as null, and some as ''. */
const absent = (v: unknown) => (v === '' || v === null ? undefined : v);
/** No control characters (they would end up in a URL handed to ffmpeg). */
const printable = (max: number) => z.string().min(1).max(max).regex(/^[^\u0000-\u001f\u007f\s]+$/, 'must be printable, without spaces');

const RtmpTarget = z
  .object({
    id: z.preprocess(absent, z.string().max(256).optional()),
    serverUrl: printable(2048).regex(/^rtmps?:\/\/[^/]+/i, 'must be an rtmp:// or rtmps:// URL'),
    streamName: printable(1024),
  })
  .loose();

const StartBody = z
  .object({
    sessionId: z.string().min(1).max(255),
    outputs: z
      .object({
        hls: z.preprocess(absent, z.object({ dvr: z.boolean().optional(), lowLatency: z.boolean().optional() }).loose().optional()),
        rtmp: z.preprocess(absent, z.array(RtmpTarget).max(MAX_RTMP_TARGETS).optional()),
      })
      .loose(),
    maxDuration: z.preprocess(absent, z.number().int().min(60).max(36_000).optional()),
    maxBitrate: z.preprocess(absent, z.number().int().min(100_000).max(6_000_000).optional()),
    resolution: z.preprocess(absent, z.string().max(20).optional()),
    layout: LayoutBody.nullish(),
    streamMode: z.preprocess(absent, z.enum(['auto', 'manual']).optional()),
    multiBroadcastTag: z.preprocess(absent, z.string().max(256).optional()),
    hasAudio: z.boolean().optional(),
    hasVideo: z.boolean().optional(),
  })
  .loose();

type BroadcastParams = { Params: { broadcastId: string } };

export async function broadcastRoutes(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const broadcasts = ctx.broadcasts;

  const toJson = (request: FastifyRequest, record: BroadcastRecord): Record<string, unknown> =>
    broadcastJson(record, request.project, broadcasts.liveStreams(record.id), ctx.config.publicUrl ?? `${request.protocol}://${request.host}`);

  // The Vonage SDK adds a trailing slash to these paths: the router ignores trailing slashes.
  {
    const path = '/broadcast';
    app.get(path, async (request) => {
      const query = parseWith(ListQuery, request.query, 'Query');
      const { count, items } = await broadcasts.list(request.project.id, query);
      return { count, items: items.map((record) => toJson(request, record)) };
    });

    app.post(path, async (request) => {
      const body = parseWith(StartBody, request.body ?? {});
      const session = await ctx.sessions.require(request.project, body.sessionId);
      const hls = body.outputs.hls ? { dvr: body.outputs.hls.dvr ?? false, lowLatency: body.outputs.hls.lowLatency ?? false } : null;
      const rtmp = (body.outputs.rtmp ?? []).map((t) => ({ id: t.id ?? '', serverUrl: t.serverUrl, streamName: t.streamName }));
      const ids = rtmp.map((t) => t.id).filter(Boolean);
      if (new Set(ids).size !== ids.length) throw invalid('outputs.rtmp ids must be unique');
      const record = await broadcasts.startBroadcast(request.project, session, {
        hls,
        rtmp,
        maxDuration: body.maxDuration,
        maxBitrate: body.maxBitrate ?? null,
        resolution: body.resolution,
        layout: body.layout ? validateLayout(body.layout) : null,
        streamMode: body.streamMode,
        multiBroadcastTag: body.multiBroadcastTag ?? null,
        hasAudio: body.hasAudio,
        hasVideo: body.hasVideo,
      });
      return toJson(request, record);
    });
  }

  app.get<BroadcastParams>('/broadcast/:broadcastId', async (request) => toJson(request, await broadcasts.get(request.project, request.params.broadcastId)));

  app.post<BroadcastParams>('/broadcast/:broadcastId/stop', async (request) => toJson(request, await broadcasts.stopBroadcast(request.project, request.params.broadcastId)));

  app.put<BroadcastParams>('/broadcast/:broadcastId/layout', async (request) => {
    const layout = validateLayout(parseWith(LayoutBody, request.body ?? {}));
    return toJson(request, await broadcasts.setLayout(request.project, request.params.broadcastId, layout));
  });

  app.patch<BroadcastParams>('/broadcast/:broadcastId/streams', async (request, reply) => {
    const body = parseWith(StreamsBody, request.body ?? {});
    if ((body.addStream === undefined) === (body.removeStream === undefined)) throw invalid('Give exactly one of addStream and removeStream');
    if (body.addStream !== undefined) {
      await broadcasts.addStream(request.project, request.params.broadcastId, body.addStream, body.hasAudio ?? true, body.hasVideo ?? true);
    } else {
      await broadcasts.removeStream(request.project, request.params.broadcastId, body.removeStream!);
    }
    return reply.status(204).send();
  });
}
