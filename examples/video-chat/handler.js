// #region imports
// @ts-check
// The video chat's app server, as one Node request handler: it serves the page and hands each
// visitor what the browser needs to join a room (API key, session ID, token). server.js runs it
// on its own port; the Colloquy server mounts the same handler at /video-chat/.

import { readFileSync } from 'node:fs';
import { Colloquy } from '@colloquy/sdk-node';
// #endregion

// #region options
/**
 * @typedef {object} VideoChatOptions
 * @property {string} apiKey Your Colloquy project's API key.
 * @property {string} apiSecret Its API secret: it stays on this server, browsers only get tokens.
 * @property {string} apiUrl Where this server reaches Colloquy's REST API, e.g. http://127.0.0.1:3000.
 * @property {string} [browserUrl] Where browsers reach the Colloquy server (default: apiUrl; '' when
 *   Colloquy itself serves this page).
 * @property {string} [basePath] The path this app is served under (default '/'; ends with '/').
 * @property {number} [maxRooms] The most rooms this server keeps (default 1000): each is a session.
 */

/** @typedef {import('node:http').IncomingMessage} Request */
/** @typedef {import('node:http').ServerResponse} Response */
// #endregion

// #region rooms
/** Room names are what people type and share: 1 to 64 letters, digits, '-' or '_'. */
const ROOM_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * Finds the Colloquy session of each room, creating it on first use. The map lives in memory:
 * session IDs cost nothing to keep and need no clean-up, and after a restart the next visitor of
 * a room simply starts a new session. A real app keeps rooms in its own database.
 * @param {Colloquy} colloquy
 * @param {number} maxRooms
 */
function createRooms(colloquy, maxRooms) {
  /** @type {Map<string, Promise<string>>} room name -> session ID (a promise while it is created) */
  const rooms = new Map();
  /** @param {string} room */
  return function sessionIdFor(room) {
    let sessionId = rooms.get(room);
    if (!sessionId) {
      if (rooms.size >= maxRooms) throw new HttpError(503, 'This server has too many rooms open. Try again later.');
      // Routed: media goes through Colloquy's media router, so each browser sends its camera once
      // however many people watch (and the room can be recorded).
      sessionId = colloquy.createSession({ mediaMode: 'routed' }).then((session) => session.sessionId);
      // Two people joining a new room at once get the same session: the promise is stored at once.
      rooms.set(room, sessionId);
      sessionId.catch(() => rooms.delete(room)); // a failed creation is tried again by the next visitor
    }
    return sessionId;
  };
}
// #endregion

// #region join
/** Strips control characters (and the bidi overrides that can disguise a name), squeezes spaces. */
function cleanDisplayName(/** @type {unknown} */ value) {
  if (typeof value !== 'string') return null;
  const name = value.replace(/[\p{Cc}\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu, '').replace(/\s+/g, ' ').trim();
  return name.length > 0 && [...name].length <= 40 ? name : null;
}

/**
 * POST api/rooms/:room/join {displayName} -> {apiKey, sessionId, token, room, displayName}.
 * @param {Colloquy} colloquy
 * @param {(room: string) => Promise<string>} sessionIdFor
 * @param {Request} request
 * @param {string} roomParam the room as it appears in the URL
 */
async function join(colloquy, sessionIdFor, request, roomParam) {
  if (!ROOM_NAME.test(roomParam)) throw new HttpError(400, 'A room name is 1 to 64 letters, digits, - or _.');
  const body = await readJson(request);
  const displayName = cleanDisplayName(body?.displayName);
  if (!displayName) throw new HttpError(400, 'Your name must be 1 to 40 characters.');
  const room = roomParam.toLowerCase(); // "Standup" and "standup" are the same room
  let sessionId;
  try {
    sessionId = await sessionIdFor(room);
  } catch (error) {
    throw colloquyFailure(error);
  }
  // The token lets this browser connect and publish. Its connection data is signed into it, so the
  // other browsers can trust the name they read from connection.data.
  const token = colloquy.generateToken(sessionId, { role: 'publisher', data: JSON.stringify({ name: displayName }) });
  return { apiKey: colloquy.apiKey, sessionId, token, room, displayName };
}

/** What the page is told when Colloquy's REST API failed (the details go to this server's log). */
function colloquyFailure(/** @type {any} */ error) {
  if (error instanceof HttpError) return error;
  console.error('video-chat: creating a session failed:', error?.message ?? error);
  if (error?.status === 0) return new HttpError(502, 'The video server cannot be reached. Is Colloquy running?');
  if (error?.status === 401 || error?.status === 403) return new HttpError(502, "The video server refused this app's API key or secret.");
  return new HttpError(502, 'The video server could not create the room.');
}
// #endregion

// #region http-helpers
class HttpError extends Error {
  /** @param {number} status @param {string} message */
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Reads a small JSON body. Only application/json is accepted: another site's form cannot send it. */
function readJson(/** @type {Request} */ request, limit = 4096) {
  return new Promise((resolve, reject) => {
    if (!/^application\/json\b/i.test(request.headers['content-type'] ?? '')) {
      reject(new HttpError(415, 'Send JSON (Content-Type: application/json).'));
      return;
    }
    /** @type {Buffer[]} */
    const chunks = [];
    let size = 0;
    request.on('data', (/** @type {Buffer} */ chunk) => {
      size += chunk.length;
      if (size > limit) reject(new HttpError(413, 'The request is too large.'));
      else chunks.push(chunk);
    });
    request.on('end', () => {
      if (size > limit) return;
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch {
        reject(new HttpError(400, 'The body is not valid JSON.'));
      }
    });
    request.on('error', reject);
  });
}

/** @param {Response} response @param {number} status @param {unknown} value */
function sendJson(response, status, value) {
  // Tokens are secrets for one visitor: never cached.
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  response.end(JSON.stringify(value));
}
// #endregion

// #region page
/**
 * The page's three files, read once. index.html gets the address of the browser SDK, which must
 * come from the Colloquy server: the SDK talks to the server it was loaded from.
 * @param {string} browserUrl
 */
function loadPage(browserUrl) {
  /** @param {string} name */
  const read = (name) => readFileSync(new URL(`./public/${name}`, import.meta.url), 'utf8');
  const sdkUrl = `${browserUrl}/v2/js/opentok.js`;
  return new Map([
    ['', { type: 'text/html; charset=utf-8', body: read('index.html').replace('{{SDK_URL}}', sdkUrl) }],
    ['app.js', { type: 'text/javascript; charset=utf-8', body: read('app.js') }],
    ['style.css', { type: 'text/css; charset=utf-8', body: read('style.css') }],
  ]);
}

/**
 * What the page may load and connect to: its own files, plus the SDK and its WebSocket on the
 * Colloquy server. Chat messages are shown as text, and this policy is the second line of defence.
 * @param {string} browserUrl
 */
function contentSecurityPolicy(browserUrl) {
  const colloquy = browserUrl ? ` ${browserUrl} ${browserUrl.replace(/^http/, 'ws')}` : '';
  return [
    "default-src 'self'",
    `script-src 'self'${colloquy}`,
    `connect-src 'self'${colloquy}`,
    "img-src 'self' data:",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}
// #endregion

// #region handler
/**
 * The app as a request handler for node:http.
 * @param {VideoChatOptions} options
 * @returns {(request: Request, response: Response) => void}
 */
export function createVideoChatHandler(options) {
  const basePath = options.basePath ?? '/';
  if (!basePath.startsWith('/') || !basePath.endsWith('/')) throw new TypeError("basePath must start and end with '/'");
  const browserUrl = (options.browserUrl ?? options.apiUrl).replace(/\/+$/, '');
  const colloquy = new Colloquy(options.apiKey, options.apiSecret, { apiUrl: options.apiUrl });
  const sessionIdFor = createRooms(colloquy, options.maxRooms ?? 1000);
  const files = loadPage(browserUrl);
  const policy = contentSecurityPolicy(browserUrl);

  return (request, response) => {
    const { pathname } = new URL(request.url ?? '/', 'http://localhost');
    if (pathname + '/' === basePath) {
      // /video-chat -> /video-chat/, so that the page's relative links resolve under it.
      response.writeHead(308, { location: basePath }).end();
      return;
    }
    const path = pathname.startsWith(basePath) ? pathname.slice(basePath.length) : null;
    const joinRoute = path === null ? null : /^api\/rooms\/([^/]*)\/join$/.exec(path);
    if (joinRoute) {
      if (request.method !== 'POST') return sendJson(response, 405, { error: 'Use POST.' });
      join(colloquy, sessionIdFor, request, joinRoute[1] ?? '').then(
        (result) => sendJson(response, 200, result),
        (error) => {
          if (!(error instanceof HttpError)) console.error('video-chat:', error);
          // After a refused body the rest of it is not read: close the connection instead.
          if (error.status === 413 || error.status === 415) response.setHeader('connection', 'close');
          sendJson(response, error instanceof HttpError ? error.status : 500, { error: error instanceof HttpError ? error.message : 'Internal error' });
        },
      );
      return;
    }
    const file = path === null ? undefined : files.get(path);
    if (!file || (request.method !== 'GET' && request.method !== 'HEAD')) return sendJson(response, 404, { error: 'Not found' });
    response.writeHead(200, {
      'content-type': file.type,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      ...(path === '' ? { 'content-security-policy': policy, 'referrer-policy': 'same-origin' } : {}),
    });
    response.end(request.method === 'HEAD' ? undefined : file.body);
  };
}
// #endregion
