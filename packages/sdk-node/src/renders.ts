// Experience Composer renders through the REST API: start one (the server's headless browser opens
// a URL and publishes it into a session as a stream), get, list, stop. Reached as `colloquy.renders`.

import { requireId, type RestClient } from './rest-client.js';

export type RenderStatus = 'starting' | 'started' | 'stopped' | 'failed';
export type RenderResolution = '640x480' | '480x640' | '1280x720' | '720x1280' | '1920x1080' | '1080x1920';

export interface StartRenderOptions {
  /** The page to render (http or https), reachable from the server. */
  url: string;
  /** Seconds after which the render stops by itself: 60 to 36000 (default 1800). */
  maxDuration?: number;
  /** The page's size and the stream's (default 1280x720). */
  resolution?: RenderResolution;
  /** The published stream's name. */
  name?: string;
  /** Receives a POST of the render's JSON at every status change. */
  statusCallbackUrl?: string;
}

/** A render as the server describes it (OpenTok's fields). */
export interface Render {
  id: string;
  sessionId: string;
  /** The API key (or application ID) that owns it, under both OpenTok names. */
  applicationId: string;
  projectId: string;
  /** Epoch ms. */
  createdAt: number;
  updatedAt: number;
  url: string;
  resolution: RenderResolution;
  status: RenderStatus;
  /** The stream the render publishes, once started. */
  streamId?: string;
  /** Why it stopped or failed. */
  reason?: string;
}

export class Renders {
  readonly #client: RestClient;

  constructor(client: RestClient) {
    this.#client = client;
  }

  /**
   * Starts rendering `options.url` into a routed session; `token` (role publisher or moderator) is
   * what the render joins with. Answers at once with status `starting`; poll `get` (or use a
   * statusCallbackUrl) for `started` and its streamId.
   */
  async start(sessionId: string, token: string, options: StartRenderOptions): Promise<Render> {
    const { name, ...rest } = options;
    const body = {
      sessionId: requireId(sessionId, 'sessionId'),
      token: requireId(token, 'token'),
      ...rest,
      url: requireId(options.url, 'url'),
      ...(name !== undefined ? { properties: { name } } : {}),
    };
    const { data } = await this.#client.request<Render>('POST', 'render', body);
    return data;
  }

  async get(renderId: string): Promise<Render> {
    const { data } = await this.#client.request<Render>('GET', `render/${encodeURIComponent(requireId(renderId, 'renderId'))}`);
    return data;
  }

  /** Newest first; `count` (1-1000, default 50) and `offset` page through; the answer's `count` is the total. */
  async list(options: { offset?: number; count?: number } = {}): Promise<{ count: number; items: Render[] }> {
    const query = new URLSearchParams();
    if (options.offset !== undefined) query.set('offset', String(options.offset));
    if (options.count !== undefined) query.set('count', String(options.count));
    const qs = query.toString();
    const { data } = await this.#client.request<{ count: number; items: Render[] }>('GET', `render${qs ? `?${qs}` : ''}`);
    return data;
  }

  /** Stops a render: its stream leaves the session before this resolves with the render (`stopped`). */
  async stop(renderId: string): Promise<Render> {
    const { data } = await this.#client.request<Render>('DELETE', `render/${encodeURIComponent(requireId(renderId, 'renderId'))}`);
    return data;
  }
}
