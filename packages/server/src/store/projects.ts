// Projects: who may call the REST API and sign client tokens. A legacy project has a numeric API
// key and a shared secret (HS256, T1); a Vonage-style application has a UUID and an RSA public key
// (RS256). Both own sessions the same way.
//
// Every token check and connection looks a project up, so the store keeps them all in memory (a
// deployment has tens to thousands; a few hundred bytes each): reads are synchronous map lookups,
// writes go to the database first and then to the map, and changes made by another node (PostgreSQL
// NOTIFY) or another process (the CLI on SQLite) reload the rows they touched.

import { createPublicKey, randomBytes, randomInt, randomUUID, type KeyObject } from 'node:crypto';
import { isUniqueViolation, type SqlDatabase } from './sql.js';

export type ProjectKind = 'project' | 'application';

export interface Project {
  /** Numeric API key for a project, UUID for an application. */
  id: string;
  kind: ProjectKind;
  name: string;
  /** API secret (projects only). */
  secret: string | null;
  /** PEM public key (applications only). */
  publicKey: string | null;
  createdAt: number;
}

interface ProjectRow {
  id: string;
  kind: ProjectKind;
  name: string;
  secret: string | null;
  public_key: string | null;
  created_at: number;
}

function toProject(row: ProjectRow): Project {
  return { id: row.id, kind: row.kind, name: row.name, secret: row.secret, publicKey: row.public_key, createdAt: row.created_at };
}

/** The topic other nodes hear project changes on. */
const TOPIC = 'projects';

export const MAX_PROJECT_NAME_LENGTH = 100;

export class ProjectValidationError extends Error {
  override name = 'ProjectValidationError';
}

/** Parses a PEM public key (SPKI or PKCS#1) and checks that it is RSA, as RS256 needs. */
export function parseRsaPublicKey(pem: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new ProjectValidationError('public key is not a PEM public key');
  }
  if (key.asymmetricKeyType !== 'rsa') throw new ProjectValidationError('public key must be an RSA key (RS256)');
  return key;
}

function checkName(name: string): string {
  const trimmed = name.trim();
  if (trimmed.length === 0 || trimmed.length > MAX_PROJECT_NAME_LENGTH) {
    throw new ProjectValidationError(`project name must be 1 to ${MAX_PROJECT_NAME_LENGTH} characters`);
  }
  return trimmed;
}

export class ProjectStore {
  readonly #db: SqlDatabase;
  readonly #byId = new Map<string, Project>();
  /** Parsed public keys, so RS256 checks do not re-parse PEM per request. */
  readonly #publicKeys = new Map<string, KeyObject>();

  private constructor(db: SqlDatabase) {
    this.#db = db;
  }

  /** Loads every project and starts following changes made elsewhere. */
  static async open(db: SqlDatabase): Promise<ProjectStore> {
    const store = new ProjectStore(db);
    await store.#reloadAll();
    await db.watch(TOPIC, (id) => void (id === '*' ? store.#reloadAll() : store.#reload(id)).catch(() => {}));
    return store;
  }

  get(id: string): Project | null {
    return this.#byId.get(id) ?? null;
  }

  list(): Project[] {
    return [...this.#byId.values()].sort((a, b) => a.createdAt - b.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  count(): number {
    return this.#byId.size;
  }

  /** Creates a legacy project with a fresh numeric key and 40-hex-digit secret (OpenTok's shapes). */
  async createProject(name: string, credentials?: { apiKey: string; apiSecret: string }): Promise<Project> {
    const project: Project = {
      id: credentials?.apiKey ?? this.#freshApiKey(),
      kind: 'project',
      name: checkName(name),
      secret: credentials?.apiSecret ?? randomBytes(20).toString('hex'),
      publicKey: null,
      createdAt: Date.now(),
    };
    await this.#insert(project);
    return project;
  }

  /** Creates a Vonage-style application: a UUID and the RSA public key its tokens are checked with. */
  async createApplication(name: string, publicKeyPem: string, applicationId: string = randomUUID()): Promise<Project> {
    parseRsaPublicKey(publicKeyPem);
    const project: Project = {
      id: applicationId.toLowerCase(),
      kind: 'application',
      name: checkName(name),
      secret: null,
      publicKey: publicKeyPem.trim() + '\n',
      createdAt: Date.now(),
    };
    await this.#insert(project);
    return project;
  }

  /** Makes sure a project with exactly these credentials exists (operator-provided, from the environment). */
  async ensureProject(apiKey: string, apiSecret: string, name = 'Project ' + apiKey): Promise<{ project: Project; created: boolean }> {
    const found = await this.#findOrCreate(apiKey, () => this.createProject(name, { apiKey, apiSecret }));
    if (found.created) return found;
    const existing = found.project;
    if (existing.kind !== 'project') throw new ProjectValidationError(`${apiKey} is an application, not a project`);
    if (existing.secret !== apiSecret) await this.#update(apiKey, 'UPDATE projects SET secret = ? WHERE id = ?', [apiSecret, apiKey]);
    return { project: { ...existing, secret: apiSecret }, created: false };
  }

  /** Makes sure an application with this id and public key exists. */
  async ensureApplication(applicationId: string, publicKeyPem: string, name = 'Application'): Promise<{ project: Project; created: boolean }> {
    const id = applicationId.toLowerCase();
    const found = await this.#findOrCreate(id, () => this.createApplication(name, publicKeyPem, id));
    if (found.created) return found;
    const existing = found.project;
    if (existing.kind !== 'application') throw new ProjectValidationError(`${id} is a project, not an application`);
    parseRsaPublicKey(publicKeyPem);
    const pem = publicKeyPem.trim() + '\n';
    if (existing.publicKey !== pem) await this.#update(id, 'UPDATE projects SET public_key = ? WHERE id = ?', [pem, id]);
    return { project: { ...existing, publicKey: pem }, created: false };
  }

  /**
   * The project with this id as the database has it now, or else what `create` makes. Nodes that
   * start together on one database each ensure the same project: one inserts it, and the others
   * (whose memory was loaded before the insert) find it on a re-read, or after their own insert
   * is refused as a duplicate.
   */
  async #findOrCreate(id: string, create: () => Promise<Project>): Promise<{ project: Project; created: boolean }> {
    if (!this.get(id)) await this.#reload(id);
    const known = this.get(id);
    if (known) return { project: known, created: false };
    try {
      return { project: await create(), created: true };
    } catch (err) {
      if (!(err instanceof ProjectValidationError)) throw err;
      await this.#reload(id);
      const raced = this.get(id);
      if (!raced) throw err;
      return { project: raced, created: false };
    }
  }

  /** Replaces a project's secret; tokens and REST calls signed with the old one stop working at once. */
  async rotateSecret(id: string): Promise<Project> {
    const project = this.get(id);
    if (!project || project.kind !== 'project') throw new ProjectValidationError(`no project ${id}`);
    const secret = randomBytes(20).toString('hex');
    await this.#update(id, 'UPDATE projects SET secret = ? WHERE id = ?', [secret, id]);
    return { ...project, secret };
  }

  /** Deletes a project; its sessions (and everything hanging off them) go with it by cascade. */
  async delete(id: string): Promise<boolean> {
    const { changes } = await this.#db.run('DELETE FROM projects WHERE id = ?', [id]);
    this.#forget(id);
    await this.#db.announce(TOPIC, id);
    return changes > 0;
  }

  /** The parsed public key of an application, cached. */
  publicKeyOf(project: Project): KeyObject | null {
    if (!project.publicKey) return null;
    let key = this.#publicKeys.get(project.id);
    if (!key) {
      key = parseRsaPublicKey(project.publicKey);
      this.#publicKeys.set(project.id, key);
    }
    return key;
  }

  async #insert(project: Project): Promise<void> {
    try {
      await this.#db.run('INSERT INTO projects (id, kind, name, secret, public_key, created_at) VALUES (?, ?, ?, ?, ?, ?)', [
        project.id,
        project.kind,
        project.name,
        project.secret,
        project.publicKey,
        project.createdAt,
      ]);
    } catch (err) {
      if (isUniqueViolation(err)) throw new ProjectValidationError(`a project with id ${project.id} already exists`);
      throw err;
    }
    this.#byId.set(project.id, project);
    await this.#db.announce(TOPIC, project.id);
  }

  /** Runs an UPDATE of one project, then refreshes it here and tells the other nodes. */
  async #update(id: string, sql: string, params: (string | null)[]): Promise<void> {
    await this.#db.run(sql, params);
    await this.#reload(id);
    await this.#db.announce(TOPIC, id);
  }

  async #reload(id: string): Promise<void> {
    const row = await this.#db.get<ProjectRow>('SELECT * FROM projects WHERE id = ?', [id]);
    this.#forget(id);
    if (row) this.#byId.set(id, toProject(row));
  }

  async #reloadAll(): Promise<void> {
    const rows = await this.#db.all<ProjectRow>('SELECT * FROM projects');
    this.#byId.clear();
    this.#publicKeys.clear();
    for (const row of rows) this.#byId.set(row.id, toProject(row));
  }

  #forget(id: string): void {
    this.#byId.delete(id);
    this.#publicKeys.delete(id);
  }

  #freshApiKey(): string {
    // Eight digits, like OpenTok's keys; retried on the rare collision (the insert's key check catches a race).
    for (;;) {
      const key = String(randomInt(10_000_000, 100_000_000));
      if (!this.#byId.has(key)) return key;
    }
  }
}
