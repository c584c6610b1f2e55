// What the dashboard needs from archiving: a project's archives, newest first. The archiving module
// (issue 5) implements it and server.ts hands it to the dashboard; until then the Archives page
// says that this server records no archives yet.

import type { ArchiveItem } from './api-types.js';

export interface ArchiveSource {
  list(projectId: string, page: { offset: number; count: number }): Promise<{ count: number; items: ArchiveItem[] }> | { count: number; items: ArchiveItem[] };
}
