// The Inspector: records each session's event log and quality samples (inspector-writer.ts:
// batching, caps, pruning) and answers the queries behind the dashboard and the REST extension
// (inspector-reader.ts). This class joins the two over one database and one live view, so callers
// keep a single object; each half can be read on its own.

import type { SqlDatabase } from '../store/sql.js';
import type { Logger } from '../logger.js';
import { InspectorReader } from './inspector-reader.js';
import { InspectorWriter, type InspectorOptions } from './inspector-writer.js';

export type { InspectorOptions } from './inspector-writer.js';

export class Inspector extends InspectorWriter {
  readonly reader: InspectorReader;

  constructor(db: SqlDatabase, logger: Logger, options: InspectorOptions = {}) {
    super(db, logger, options);
    this.reader = new InspectorReader({ db, live: this.live, flush: () => this.flush(), now: options.now ?? Date.now });
  }

  listSessions: InspectorReader['listSessions'] = (...args) => this.reader.listSessions(...args);
  joinedSessionIds: InspectorReader['joinedSessionIds'] = (...args) => this.reader.joinedSessionIds(...args);
  firstConnection: InspectorReader['firstConnection'] = (...args) => this.reader.firstConnection(...args);
  getSession: InspectorReader['getSession'] = (...args) => this.reader.getSession(...args);
  events: InspectorReader['events'] = (...args) => this.reader.events(...args);
  quality: InspectorReader['quality'] = (...args) => this.reader.quality(...args);
  scores: InspectorReader['scores'] = (...args) => this.reader.scores(...args);
  participants: InspectorReader['participants'] = (...args) => this.reader.participants(...args);
  liveSessions: InspectorReader['liveSessions'] = (...args) => this.reader.liveSessions(...args);
  liveSession: InspectorReader['liveSession'] = (...args) => this.reader.liveSession(...args);
}
