// Projects: who may call the REST API and sign client tokens. A legacy project has a numeric API
// key and a shared secret (HS256, T1); a Vonage-style application has a UUID and an RSA public key
// (RS256). Both own sessions the same way.

import { createPublicKey, randomBytes, randomInt, randomUUID, type KeyObject } from 'node:crypto';
import type { Db } from './database.js';

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
  readonly #db: Db;
  /** Parsed public keys, so RS256 checks do not re-parse PEM per request. */
  readonly #publicKeys = new Map<string, KeyObject>();

  constructor(db: Db) {
    this.#db = db;
  }

  get(id: string): Project | null {
    const row = this.#db.prepare('SELECT * FROM projects WHERE id = ?').get(id) as ProjectRow | undefined;
    return row ? toProject(row) : null;
  }

  list(): Project[] {
    return (this.#db.prepare('SELECT * FROM projects ORDER BY created_at, id').all() as ProjectRow[]).map(toProject);
  }

  count(): number {
    return this.#db.prepare('SELECT COUNT(*) FROM projects').pluck().get() as number;
  }

  /** Creates a legacy project with a fresh numeric key and 40-hex-digit secret (OpenTok's shapes). */
  createProject(name: string, credentials?: { apiKey: string; apiSecret: string }): Project {
    const project: Project = {
      id: credentials?.apiKey ?? this.#freshApiKey(),
      kind: 'project',
      name: checkName(name),
      secret: credentials?.apiSecret ?? randomBytes(20).toString('hex'),
      publicKey: null,
      createdAt: Date.now(),
    };
    this.#insert(project);
    return project;
  }

  /** Creates a Vonage-style application: a UUID and the RSA public key its tokens are checked with. */
  createApplication(name: string, publicKeyPem: string, applicationId: string = randomUUID()): Project {
    parseRsaPublicKey(publicKeyPem);
    const project: Project = {
      id: applicationId.toLowerCase(),
      kind: 'application',
      name: checkName(name),
      secret: null,
      publicKey: publicKeyPem.trim() + '\n',
      createdAt: Date.now(),
    };
    this.#insert(project);
    return project;
  }

  /** Makes sure a project with exactly these credentials exists (operator-provided, from the environment). */
  ensureProject(apiKey: string, apiSecret: string, name = 'Project ' + apiKey): { project: Project; created: boolean } {
    const existing = this.get(apiKey);
    if (!existing) return { project: this.createProject(name, { apiKey, apiSecret }), created: true };
    if (existing.kind !== 'project') throw new ProjectValidationError(`${apiKey} is an application, not a project`);
    if (existing.secret !== apiSecret) this.#db.prepare('UPDATE projects SET secret = ? WHERE id = ?').run(apiSecret, apiKey);
    return { project: { ...existing, secret: apiSecret }, created: false };
  }

  /** Makes sure an application with this id and public key exists. */
  ensureApplication(applicationId: string, publicKeyPem: string, name = 'Application'): { project: Project; created: boolean } {
    const id = applicationId.toLowerCase();
    const existing = this.get(id);
    if (!existing) return { project: this.createApplication(name, publicKeyPem, id), created: true };
    if (existing.kind !== 'application') throw new ProjectValidationError(`${id} is a project, not an application`);
    parseRsaPublicKey(publicKeyPem);
    const pem = publicKeyPem.trim() + '\n';
    if (existing.publicKey !== pem) {
      this.#db.prepare('UPDATE projects SET public_key = ? WHERE id = ?').run(pem, id);
      this.#publicKeys.delete(id);
    }
    return { project: { ...existing, publicKey: pem }, created: false };
  }

  /** Replaces a project's secret; tokens and REST calls signed with the old one stop working at once. */
  rotateSecret(id: string): Project {
    const project = this.get(id);
    if (!project || project.kind !== 'project') throw new ProjectValidationError(`no project ${id}`);
    const secret = randomBytes(20).toString('hex');
    this.#db.prepare('UPDATE projects SET secret = ? WHERE id = ?').run(secret, id);
    return { ...project, secret };
  }

  /** Deletes a project; its sessions (and everything hanging off them) go with it by cascade. */
  delete(id: string): boolean {
    this.#publicKeys.delete(id);
    return this.#db.prepare('DELETE FROM projects WHERE id = ?').run(id).changes > 0;
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

  #insert(project: Project): void {
    try {
      this.#db
        .prepare('INSERT INTO projects (id, kind, name, secret, public_key, created_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(project.id, project.kind, project.name, project.secret, project.publicKey, project.createdAt);
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new ProjectValidationError(`a project with id ${project.id} already exists`);
      }
      throw err;
    }
  }

  #freshApiKey(): string {
    // Eight digits, like OpenTok's keys; retried on the rare collision.
    for (;;) {
      const key = String(randomInt(10_000_000, 100_000_000));
      if (!this.get(key)) return key;
    }
  }
}
