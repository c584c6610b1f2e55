// Live captions of sessions (OpenTok's captions API). Starting captions for a routed session (with a
// moderator token of it) makes every stream whose publisher publishes captions (OpenTok.js
// publishCaptions) a captioned stream: its `hasCaptions` turns true and a StreamCaptioner turns its
// audio into text, sent over signaling to the subscribers that asked (subscribeToCaptions). At most
// one captions run per session (409 for a second); each stream's engine is a process, at most
// `maxStreams` of them on the server (a stream beyond waits for none: it is not captioned, and the
// log says so). Captions end when stopped (REST), when `maxDuration` passes, when the session ends
// (its last connection leaves), when an engine keeps failing (status `failed`), or at shutdown.
// Each status (started, stopped, failed, with a reason) is POSTed to the run's statusCallbackUrl.
// Runs are kept in memory (the last MAX_KEPT_RUNS finished ones stay readable by GET).

import { randomUUID } from 'node:crypto';
import { TokenError, verifyClientToken } from '../auth/client-token.js';
import type { WebhookSender } from '../callbacks/webhook-sender.js';
import { ColloquyError, conflict, invalid, notFound } from '../errors.js';
import type { Logger } from '../logger.js';
import { requireClearMedia } from '../sessions/e2ee.js';
import type { Session, SessionManager, Stream } from '../sessions/session-manager.js';
import type { Project, Store } from '../store/index.js';
import type { SpeechToTextProvider } from './provider.js';
import { StreamCaptioner, type RestartPolicy } from './stream-captioner.js';

/** OpenTok's bounds on maxDuration (seconds) and its default: 4 hours. */
export const MIN_CAPTIONS_DURATION = 300;
export const MAX_CAPTIONS_DURATION = 14_400;
/** A caption longer than this is cut (the protocol's bound). */
export const MAX_CAPTION_LENGTH = 1000;
const MAX_KEPT_RUNS = 1000;

export type CaptionsStatus = 'started' | 'stopped' | 'failed';

export interface StartCaptionsRequest {
  sessionId: string;
  token: string;
  languageCode: string;
  /** Seconds, MIN_CAPTIONS_DURATION..MAX_CAPTIONS_DURATION. */
  maxDuration: number;
  partialCaptions: boolean;
  statusCallbackUrl: string | null;
}

/** A captions run as GET /captions/{id} and the status callbacks show it (OpenTok's fields). */
export interface CaptionsJson {
  captionId: string;
  applicationId: string;
  sessionId: string;
  status: CaptionsStatus;
  createdAt: number;
  updatedAt: number;
  /** Seconds captions ran (so far, while started). */
  duration: number;
  languageCode: string;
  provider: string;
  reason?: string;
}

interface CaptionsRun {
  id: string;
  projectId: string;
  sessionId: string;
  languageCode: string;
  partialCaptions: boolean;
  statusCallbackUrl: string | null;
  status: CaptionsStatus;
  reason: string | null;
  createdAt: number;
  updatedAt: number;
  endedAt: number | null;
  timer: NodeJS.Timeout | null;
  captioners: Map<string, StreamCaptioner>;
}

export interface CaptionsSettings {
  /** Engine processes (captioned streams) on this server at once. */
  maxStreams: number;
  restart?: RestartPolicy;
}

export class CaptionsManager {
  readonly #sessions: SessionManager;
  readonly #store: Store;
  readonly #provider: SpeechToTextProvider;
  readonly #sender: WebhookSender | null;
  readonly #settings: CaptionsSettings;
  readonly #log: Logger;
  /** Every run still readable, oldest first. */
  readonly #runs = new Map<string, CaptionsRun>();
  /** The started run of each session. */
  readonly #bySession = new Map<string, CaptionsRun>();
  readonly #unlisten: () => void;
  #closed = false;

  constructor(params: { sessions: SessionManager; store: Store; provider: SpeechToTextProvider; sender: WebhookSender | null; settings: CaptionsSettings; logger: Logger }) {
    this.#sessions = params.sessions;
    this.#store = params.store;
    this.#provider = params.provider;
    this.#sender = params.sender;
    this.#settings = params.settings;
    this.#log = params.logger.child({ module: 'captions' });
    this.#sessions.captionsRunning = (sessionId) => this.#bySession.has(sessionId);
    const onStreamCreated = (session: Session, stream: Stream) => this.#follow(session.id, stream);
    const onStreamDestroyed = (session: Session, stream: Stream) => this.#unfollow(session.id, stream.id);
    const onPropertyChanged = (session: Session, stream: Stream, property: string) => {
      if (property !== 'hasCaptions') return;
      if (stream.hasCaptions) this.#follow(session.id, stream);
      else this.#unfollow(session.id, stream.id);
    };
    const onSessionEnded = (session: Session) => {
      const run = this.#bySession.get(session.id);
      if (run) this.#end(run, 'stopped', 'session ended');
    };
    const unobserve = this.#sessions.observeSessions({ streamCreated: onStreamCreated, streamDestroyed: onStreamDestroyed, streamPropertyChanged: onPropertyChanged });
    this.#sessions.on('sessionEnded', onSessionEnded);
    this.#unlisten = () => {
      unobserve();
      this.#sessions.off('sessionEnded', onSessionEnded);
    };
  }

  /** The language codes captions can be started in here. */
  languages(): string[] {
    return this.#provider.languages();
  }

  /** Engine processes running now, over every session. */
  get activeStreams(): number {
    let n = 0;
    for (const run of this.#bySession.values()) n += run.captioners.size;
    return n;
  }

  async start(project: Project, request: StartCaptionsRequest): Promise<{ captionsId: string }> {
    if (this.#closed) throw new ColloquyError('unavailable', 'The server is shutting down');
    let record;
    try {
      record = await this.#sessions.require(project, request.sessionId);
    } catch (err) {
      if (err instanceof ColloquyError && err.kind === 'not-found') throw notFound('Session not found: no session with this ID in the project', 404);
      throw err;
    }
    let claims;
    try {
      claims = verifyClientToken(request.token, { projects: this.#store.projects, sessionId: record.id });
    } catch (err) {
      if (err instanceof TokenError) throw invalid(`The token is not valid for this session: ${err.message}`);
      throw err;
    }
    if (claims.projectId !== project.id) throw invalid('The token is not valid for this session: it belongs to another project');
    if (claims.role !== 'moderator') throw invalid(`Starting captions needs a token with the moderator role; this one has the ${claims.role} role`);
    if (record.mediaMode !== 'routed') {
      throw conflict('Live captions are only possible in routed sessions (p2p.preference=disabled): this session is relayed');
    }
    requireClearMedia(record, 'Live captions');
    const languages = this.#provider.languages();
    const language = languages.find((l) => l.toLowerCase() === request.languageCode.toLowerCase());
    if (!language) {
      throw invalid(
        languages.length === 0
          ? `languageCode ${request.languageCode} is not supported: no speech-to-text model is installed on this server`
          : `languageCode ${request.languageCode} is not supported here: installed models are ${languages.join(', ')}`,
      );
    }
    if (this.#bySession.has(record.id)) throw conflict('Live captions are already running for this session', 409);
    if (this.activeStreams >= this.#settings.maxStreams) {
      throw new ColloquyError('unavailable', `The server already captions ${this.#settings.maxStreams} streams, its limit (COLLOQUY_CAPTIONS_MAX_STREAMS); try again later`);
    }
    const now = Date.now();
    const run: CaptionsRun = {
      id: randomUUID(),
      projectId: project.id,
      sessionId: record.id,
      languageCode: language,
      partialCaptions: request.partialCaptions,
      statusCallbackUrl: request.statusCallbackUrl,
      status: 'started',
      reason: null,
      createdAt: now,
      updatedAt: now,
      endedAt: null,
      timer: null,
      captioners: new Map(),
    };
    run.timer = setTimeout(() => this.#end(run, 'stopped', 'maximum duration exceeded'), request.maxDuration * 1000);
    run.timer.unref();
    this.#keep(run);
    this.#bySession.set(record.id, run);
    this.#log.info({ captionsId: run.id, sessionId: record.id, languageCode: language, maxDuration: request.maxDuration }, 'captions started');
    this.#notify(run);
    // Every stream already publishing captions becomes captioned (streamPropertyChanged hasCaptions).
    this.#sessions.live(record.id)?.setCaptionsRunning(true);
    return { captionsId: run.id };
  }

  stop(project: Project, captionsId: string): void {
    const run = this.#find(project, captionsId);
    if (run.status === 'started') this.#end(run, 'stopped', 'user initiated');
  }

  get(project: Project, captionsId: string): CaptionsJson {
    return this.#json(this.#find(project, captionsId));
  }

  /** The started run of a session (tests, the Inspector). */
  runOf(sessionId: string): { captionsId: string; streams: string[] } | undefined {
    const run = this.#bySession.get(sessionId);
    return run ? { captionsId: run.id, streams: [...run.captioners.keys()] } : undefined;
  }

  /** Stops every run (server shutdown): their engines are killed. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const run of [...this.#bySession.values()]) this.#end(run, 'stopped', 'server shutting down');
    this.#unlisten();
  }

  #find(project: Project, captionsId: string): CaptionsRun {
    const run = this.#runs.get(captionsId);
    if (!run || run.projectId !== project.id) throw notFound('Captions not found', 404);
    return run;
  }

  #follow(sessionId: string, stream: Stream): void {
    const run = this.#bySession.get(sessionId);
    if (!run || !stream.hasCaptions || !stream.live || stream.closed || run.captioners.has(stream.id)) return;
    if (this.activeStreams >= this.#settings.maxStreams) {
      this.#log.warn({ captionsId: run.id, streamId: stream.id, limit: this.#settings.maxStreams }, 'captions engine limit reached: this stream is not captioned');
      return;
    }
    const session = this.#sessions.live(sessionId);
    const captioner = StreamCaptioner.start(stream, {
      provider: this.#provider,
      options: { languageCode: run.languageCode, partialResults: run.partialCaptions },
      ...(this.#settings.restart ? { restart: this.#settings.restart } : {}),
      onResult: (result) => {
        if (!session || session.closed || stream.closed) return;
        session.deliverCaption(stream, result.text.slice(0, MAX_CAPTION_LENGTH), result.isFinal);
      },
      onFailed: (reason) => {
        run.captioners.delete(stream.id);
        this.#end(run, 'failed', `stream ${stream.id}: ${reason}`);
      },
      logger: this.#log.child({ captionsId: run.id }),
    });
    if (!captioner) {
      this.#log.info({ captionsId: run.id, streamId: stream.id }, 'stream has no Opus audio on the SFU: not captioned');
      return;
    }
    run.captioners.set(stream.id, captioner);
    this.#log.debug({ captionsId: run.id, streamId: stream.id }, 'stream captioned');
  }

  #unfollow(sessionId: string, streamId: string): void {
    const run = this.#bySession.get(sessionId);
    const captioner = run?.captioners.get(streamId);
    if (!run || !captioner) return;
    captioner.close();
    run.captioners.delete(streamId);
  }

  #end(run: CaptionsRun, status: 'stopped' | 'failed', reason: string): void {
    if (run.status !== 'started') return;
    run.status = status;
    run.reason = reason;
    run.updatedAt = run.endedAt = Date.now();
    if (run.timer) clearTimeout(run.timer);
    for (const captioner of run.captioners.values()) captioner.close();
    run.captioners.clear();
    if (this.#bySession.get(run.sessionId) === run) this.#bySession.delete(run.sessionId);
    this.#sessions.live(run.sessionId)?.setCaptionsRunning(false);
    this.#log.info({ captionsId: run.id, sessionId: run.sessionId, status, reason }, 'captions ended');
    this.#notify(run);
  }

  #keep(run: CaptionsRun): void {
    this.#runs.set(run.id, run);
    if (this.#runs.size <= MAX_KEPT_RUNS) return;
    for (const [id, old] of this.#runs) {
      if (old.status === 'started') continue;
      this.#runs.delete(id);
      if (this.#runs.size <= MAX_KEPT_RUNS) break;
    }
  }

  #json(run: CaptionsRun): CaptionsJson {
    const until = run.endedAt ?? Date.now();
    return {
      captionId: run.id,
      applicationId: run.projectId,
      sessionId: run.sessionId,
      status: run.status,
      createdAt: run.createdAt,
      updatedAt: run.updatedAt,
      duration: Math.round((until - run.createdAt) / 1000),
      languageCode: run.languageCode,
      provider: this.#provider.name,
      ...(run.reason ? { reason: run.reason } : {}),
    };
  }

  /** The status callback: the run's JSON, POSTed to its statusCallbackUrl (webhook-sender retries). */
  #notify(run: CaptionsRun): void {
    if (!run.statusCallbackUrl || !this.#sender) return;
    this.#sender.send({ projectId: run.projectId, kind: 'captions', url: run.statusCallbackUrl, body: { ...this.#json(run) } });
  }
}
