// A Stream (OpenTok.js Stream): one published stream in the session, as `streamCreated` hands it
// out and `session.subscribe(stream)` takes it. Its properties follow the publisher's changes
// (streamPropertyChanged updates them before the event is dispatched).

import type { StreamInfo, VideoDimensions, VideoType } from '@colloquy/protocol';
import type { Connection } from './connection.js';

export class Stream {
  readonly streamId: string;
  /** The publishing client's connection. */
  readonly connection: Connection;
  readonly name: string;
  readonly videoType: VideoType | undefined;
  /** Epoch milliseconds. */
  readonly creationTime: number;
  readonly frameRate: number | undefined;
  hasAudio: boolean;
  hasVideo: boolean;
  /**
   * Live captions run for this stream: captions were started for the session and its publisher
   * publishes captions (streamPropertyChanged 'hasCaptions' when that changes).
   */
  hasCaptions: boolean;
  videoDimensions: VideoDimensions;

  /** @internal */
  constructor(info: StreamInfo, connection: Connection) {
    this.streamId = info.streamId;
    this.connection = connection;
    this.name = info.name;
    this.videoType = info.videoType ?? undefined;
    this.creationTime = info.creationTime;
    this.frameRate = info.frameRate ?? undefined;
    this.hasAudio = info.hasAudio;
    this.hasVideo = info.hasVideo;
    this.hasCaptions = info.hasCaptions ?? false;
    this.videoDimensions = info.videoDimensions ?? { width: 0, height: 0 };
  }

  /** OpenTok.js also exposes the id as `id`. */
  get id(): string {
    return this.streamId;
  }

  /** Initials of the name (OpenTok.js shows them when there is no video). */
  get initials(): string {
    return this.name
      .split(/\s+/)
      .filter(Boolean)
      .slice(0, 2)
      .map((w) => w[0]!.toUpperCase())
      .join('');
  }
}
