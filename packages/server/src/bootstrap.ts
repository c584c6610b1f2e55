// What a start does to the project list: with COLLOQUY_API_KEY/SECRET it ensures that project, with
// COLLOQUY_APPLICATION_ID/PUBLIC_KEY_FILE that application, and with neither on an empty data
// folder it creates a development project so that the first `npm start` is usable at once.

import { readFileSync } from 'node:fs';
import type { Config } from './config.js';
import { ConfigError } from './config.js';
import type { Logger } from './logger.js';
import type { Project, Store } from './store/index.js';

export interface BootstrapResult {
  /** The project the dashboard, tutorial and start banner use by default. */
  defaultProject: Project | null;
  /** Set when this start created the development project: its secret is shown once. */
  createdDevProject: Project | null;
}

export const DEV_PROJECT_NAME = 'Development';

export async function bootstrapProjects(config: Config, store: Store, logger: Logger): Promise<BootstrapResult> {
  const log = logger.child({ module: 'bootstrap' });
  let defaultProject: Project | null = null;
  let createdDevProject: Project | null = null;
  if (config.apiKey && config.apiSecret) {
    const { project, created } = await store.projects.ensureProject(config.apiKey, config.apiSecret);
    log.info({ apiKey: project.id, created }, 'project from COLLOQUY_API_KEY ensured');
    defaultProject = project;
  }
  if (config.applicationId && config.publicKeyFile) {
    let pem: string;
    try {
      pem = readFileSync(config.publicKeyFile, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read COLLOQUY_PUBLIC_KEY_FILE ${config.publicKeyFile}: ${(err as Error).message}`);
    }
    const { project, created } = await store.projects.ensureApplication(config.applicationId, pem);
    log.info({ applicationId: project.id, created }, 'application from COLLOQUY_APPLICATION_ID ensured');
    defaultProject ??= project;
  }
  if (!defaultProject && store.projects.count() === 0) {
    createdDevProject = await store.projects.createProject(DEV_PROJECT_NAME);
    log.info({ apiKey: createdDevProject.id }, 'development project created');
  }
  defaultProject ??= store.projects.list().find((p) => p.kind === 'project') ?? store.projects.list()[0] ?? null;
  return { defaultProject, createdDevProject };
}
