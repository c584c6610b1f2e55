// Archive storage (OpenTok's upload target) end to end: the REST settings and their validation, and
// archives recorded from a real session (a werift publisher through the SFU) uploaded to an
// S3-compatible server this test starts on loopback, which checks AWS Signature V4. Proves: the
// object `{apiKey}/{archiveId}/archive.mp4` holds the archive's bytes and the status becomes
// `uploaded` (with its callback); the url redirects to a presigned link; wrong credentials are
// refused by the server and then the project's fallback decides (`none`: failed, no copy kept;
// `opentok`: stays available here and downloads); an upload a stop interrupted resumes at restart.

import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { makeTestMedia } from '@colloquy/testing/media';
import { ProtocolClient, waitUntil } from '@colloquy/testing/protocol';
import { Colloquy } from '@colloquy/sdk-node';
import { signJwt } from '@colloquy/tokens';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, tempDir, TEST_API_KEY, type TestServer } from '../helpers.js';
import { freePort, S3_ACCESS_KEY, S3_SECRET_KEY, startTestS3, type TestS3 } from './s3-test-server.js';

const BUCKET = 'colloquy-archives';

async function rest(t: TestServer, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> | null; text: string }> {
  const iat = Math.floor(Date.now() / 1000);
  const res = await fetch(`${t.url}/v2/project/${t.apiKey}${path}`, {
    method,
    headers: {
      'X-OPENTOK-AUTH': signJwt({ iss: t.apiKey, ist: 'project', iat, exp: iat + 300 }, t.apiSecret, 'HS256'),
      ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : null, text };
}

const s3Storage = (endpoint: string, fallback: 'none' | 'opentok', secretKey = S3_SECRET_KEY) => ({
  type: 's3',
  config: { bucket: BUCKET, accessKey: S3_ACCESS_KEY, secretKey, endpoint },
  fallback,
});

/** Records ~2.5 s of a werift publisher in a new routed session, stops, and waits until the archive is produced. */
async function recordArchive(t: TestServer, outputMode: 'composed' | 'individual'): Promise<string> {
  const sdk = new Colloquy(t.apiKey, t.apiSecret, t.url);
  const { sessionId } = await sdk.createSession({ mediaMode: 'routed' });
  const alice = await ProtocolClient.join(t.url, sessionId, sdk.generateToken(sessionId, { data: 'alice' }));
  // A loaded machine (several suites on two cores) can take longer than the default 10 s to answer a publish.
  alice.timeoutMs = 60_000;
  try {
    await alice.publish({ media: makeTestMedia({ seconds: 2, gop: 30 }) });
    const started = await rest(t, 'POST', '/archive', { sessionId, name: `upload ${outputMode}`, outputMode });
    expect(started.status).toBe(200);
    const id = started.body!['id'] as string;
    const live = () => t.server.archives.liveArchives().find((a) => a.id === id);
    await waitUntil(() => (live()?.clock() ?? 0) >= 2500, 60_000, 'the archive records 2.5 s');
    expect((await rest(t, 'POST', `/archive/${id}/stop`, {})).status).toBe(200);
    const settled = await t.server.archives.whenSettled(id);
    expect(['available', 'uploaded', 'failed']).toContain(settled.status);
    return id;
  } finally {
    await alice.close();
  }
}

/** Waits for the archive's REST status to be one of `statuses` and returns its JSON. */
async function statusOf(t: TestServer, id: string, statuses: string[], what: string): Promise<Record<string, unknown>> {
  let last: Record<string, unknown> | null = null;
  const deadline = Date.now() + 120_000;
  for (;;) {
    last = (await rest(t, 'GET', `/archive/${id}`)).body;
    if (statuses.includes(last?.['status'] as string)) return last!;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('archive storage settings (REST)', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer();
  });
  afterAll(async () => t.close());

  it('sets, shows without the secret, validates as OpenTok, and removes', async () => {
    expect((await rest(t, 'GET', '/archive/storage')).status).toBe(404);
    const secretKey = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    const put = await rest(t, 'PUT', '/archive/storage', { type: 's3', config: { bucket: 'my-bucket', accessKey: 'AKIAEXAMPLE', secretKey, endpoint: 'https://s3.example.com/' }, fallback: 'none' });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ type: 's3', fallback: 'none', config: { bucket: 'my-bucket', accessKey: 'AKIAEXAMPLE', endpoint: 'https://s3.example.com', secretKeySet: true, secretKeyHint: '…EKEY' } });
    expect(put.text).not.toContain(secretKey);
    const got = await rest(t, 'GET', '/archive/storage');
    expect(got.body).toEqual(put.body);
    expect(got.text).not.toContain(secretKey);
    // Persisted with the secret (the server signs with it).
    expect((await t.server.archives.uploads.storage.get(t.apiKey))).toMatchObject({ secretKey, endpoint: 'https://s3.example.com', fallback: 'none' });
    // fallback defaults to "opentok"; no endpoint = Amazon S3.
    const plain = await rest(t, 'PUT', '/archive/storage', { type: 's3', config: { bucket: 'other.bucket', accessKey: 'AK', secretKey: 'SK' } });
    expect(plain.body).toMatchObject({ fallback: 'opentok', config: { bucket: 'other.bucket', endpoint: null } });

    const bad: Array<[unknown, number, RegExp]> = [
      ['{not json', 400, /JSON|body/i],
      [{}, 400, /type/],
      [{ type: 'gcs', config: { bucket: 'b-1', accessKey: 'a', secretKey: 's' } }, 400, /type/],
      [{ type: 's3' }, 400, /config/],
      [{ type: 's3', config: { accessKey: 'a', secretKey: 's' } }, 400, /bucket/],
      [{ type: 's3', config: { bucket: 'b-1', secretKey: 's' } }, 400, /accessKey/],
      [{ type: 's3', config: { bucket: 'b-1', accessKey: 'a' } }, 400, /secretKey/],
      [{ type: 's3', config: { bucket: 'a/b', accessKey: 'a', secretKey: 's' } }, 400, /bucket/],
      [{ type: 's3', config: { bucket: 'b-1', accessKey: 'a', secretKey: 's', endpoint: 's3.example.com' } }, 400, /endpoint/],
      [{ type: 's3', config: { bucket: 'b-1', accessKey: 'a', secretKey: 's', endpoint: 'ftp://s3.example.com' } }, 400, /endpoint/],
      [{ type: 's3', config: { bucket: 'b-1', accessKey: 'a', secretKey: 's', endpoint: 'https://u:p@s3.example.com' } }, 400, /endpoint/],
      [{ type: 's3', config: { bucket: 'b-1', accessKey: 'a', secretKey: 's', endpoint: 'https://s3.example.com/path' } }, 400, /endpoint/],
      [{ type: 's3', config: { bucket: 'b-1', accessKey: 'a', secretKey: 's' }, fallback: 'local' }, 400, /fallback/],
      [{ type: 's3', config: { bucket: 'b-1', accessKey: 'a', secretKey: 's', sse: 'kms' } }, 400, /sse/],
      [{ type: 'azure', config: { accountName: 'a', accountKey: 'k', container: 'c' } }, 501, /Azure/],
    ];
    for (const [body, status, message] of bad) {
      const res = await rest(t, 'PUT', '/archive/storage', body);
      expect([JSON.stringify(body), res.status]).toEqual([JSON.stringify(body), status]);
      expect(res.body!['message']).toMatch(message);
    }
    // A refused body changed nothing.
    expect((await rest(t, 'GET', '/archive/storage')).body).toMatchObject({ config: { bucket: 'other.bucket' } });

    expect((await rest(t, 'DELETE', '/archive/storage')).status).toBe(204);
    expect((await rest(t, 'GET', '/archive/storage')).status).toBe(404);
    expect((await rest(t, 'DELETE', '/archive/storage')).status).toBe(204);
    // Another project's credentials cannot reach this project's settings.
    const iat = Math.floor(Date.now() / 1000);
    const foreign = await fetch(`${t.url}/v2/project/${t.apiKey}/archive/storage`, {
      method: 'PUT',
      headers: { 'X-OPENTOK-AUTH': signJwt({ iss: t.apiKey, ist: 'project', iat, exp: iat + 300 }, 'not-the-secret-000000000000000000', 'HS256'), 'Content-Type': 'application/json' },
      body: JSON.stringify(s3Storage('https://s3.example.com', 'none')),
    });
    expect(foreign.status).toBe(403);
  });
});

describe('archive upload to an S3-compatible server', { timeout: 600_000 }, () => {
  let s3: TestS3;
  let t: TestServer;
  let hooks: Server;
  let hookUrl: string;
  const received: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    s3 = await startTestS3([BUCKET]);
    t = await startTestServer({ COLLOQUY_ARCHIVE_UPLOAD_RETRY_DELAY: '0', COLLOQUY_ARCHIVE_UPLOAD_ATTEMPTS: '3' });
    hooks = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        received.push(JSON.parse(body) as Record<string, unknown>);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
    hookUrl = `http://127.0.0.1:${(hooks.address() as { port: number }).port}/archive`;
    await t.server.store.callbacks.set(t.apiKey, { archive: hookUrl });
  });
  afterAll(async () => {
    await t?.close();
    await s3?.close();
    await new Promise<void>((resolve) => hooks.close(() => resolve()));
  });

  it('the test server checks signatures: a wrong secret key is refused', async () => {
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: S3_ACCESS_KEY, secretAccessKey: 'wrong-secret' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      maxAttempts: 1,
    });
    await expect(client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'probe', Body: 'x' }))).rejects.toMatchObject({ name: 'SignatureDoesNotMatch', $metadata: { httpStatusCode: 403 } });
    client.destroy();
    expect(await s3.getObject(BUCKET, 'probe')).toBeNull();
  });

  it('uploads a recorded MP4 under {apiKey}/{archiveId}/archive.mp4 with its bytes; status uploaded, callback, url redirects to the bucket', async () => {
    expect((await rest(t, 'PUT', '/archive/storage', s3Storage(s3.endpoint, 'none'))).status).toBe(200);
    const id = await recordArchive(t, 'composed');
    const archive = await statusOf(t, id, ['uploaded', 'failed'], 'the upload');
    expect(archive).toMatchObject({ status: 'uploaded', size: expect.any(Number) as number, sha256sum: expect.any(String) as string });
    const object = await s3.getObject(BUCKET, `${TEST_API_KEY}/${id}/archive.mp4`);
    expect(object).not.toBeNull();
    expect(object!.length).toBe(archive['size']);
    expect(sha256(object!)).toBe(archive['sha256sum']);
    expect(object!.subarray(4, 8).toString('latin1')).toBe('ftyp');
    const upload = (await t.server.archives.uploads.upload(id))!;
    expect(upload).toMatchObject({ state: 'uploaded', bucket: BUCKET, objectKey: `${TEST_API_KEY}/${id}/archive.mp4`, attempts: 1, bytes: archive['size'] });
    console.log(`uploaded a ${archive['size'] as number}-byte MP4 in ${upload.uploadMs} ms`);
    // The local copy is gone: the bucket has it.
    expect(existsSync(join(t.server.config.dataDir, 'archives', id))).toBe(false);

    // The status callback fired for "uploaded", after "available".
    await waitUntil(() => received.some((b) => b['id'] === id && b['status'] === 'uploaded'), 30_000, 'the uploaded callback');
    const statuses = received.filter((b) => b['id'] === id).map((b) => b['status']);
    expect(statuses.indexOf('available')).toBeLessThan(statuses.indexOf('uploaded'));

    // The url is Colloquy's signed link; it redirects to a presigned link to the object.
    const url = archive['url'] as string;
    expect(url).toMatch(new RegExp(`/archive-downloads/${id}/archive\\.mp4\\?expires=`));
    const redirect = await fetch(url, { redirect: 'manual' });
    expect(redirect.status).toBe(302);
    const location = redirect.headers.get('location')!;
    expect(location.startsWith(`${s3.endpoint}/${BUCKET}/${TEST_API_KEY}/${id}/archive.mp4?`)).toBe(true);
    expect(location).toMatch(/X-Amz-Signature=/);
    const downloaded = await fetch(url);
    expect(downloaded.status).toBe(200);
    expect(sha256(Buffer.from(await downloaded.arrayBuffer()))).toBe(archive['sha256sum']);
    // A tampered presigned link is refused by the bucket.
    expect((await fetch(location.replace(/X-Amz-Signature=[0-9a-f]{8}/, 'X-Amz-Signature=00000000'))).status).toBe(403);

    // Deleting an uploaded archive (allowed, as OpenTok) leaves the customer's object alone.
    expect((await rest(t, 'DELETE', `/archive/${id}`)).status).toBe(204);
    expect((await rest(t, 'GET', `/archive/${id}`)).body).toMatchObject({ status: 'deleted', url: null });
    expect(await s3.getObject(BUCKET, `${TEST_API_KEY}/${id}/archive.mp4`)).not.toBeNull();
  });

  it('with wrong credentials: fallback "none" fails the archive and keeps no copy; "opentok" keeps it available and downloadable', async () => {
    expect((await rest(t, 'PUT', '/archive/storage', s3Storage(s3.endpoint, 'none', 'wrong-secret'))).status).toBe(200);
    const failedId = await recordArchive(t, 'individual');
    const failed = await statusOf(t, failedId, ['failed', 'uploaded'], 'the failed upload');
    expect(failed).toMatchObject({ status: 'failed', url: null });
    expect(failed['reason']).toMatch(/upload to bucket "colloquy-archives" failed: SignatureDoesNotMatch \(HTTP 403\).*fallback "none"/);
    // A refused signature is not worth retrying: one attempt.
    expect((await t.server.archives.uploads.upload(failedId))).toMatchObject({ state: 'failed', attempts: 1 });
    await waitUntil(() => !existsSync(join(t.server.config.dataDir, 'archives', failedId)), 10_000, 'the local copy removed');
    expect(await s3.getObject(BUCKET, `${TEST_API_KEY}/${failedId}/archive.zip`)).toBeNull();

    expect((await rest(t, 'PUT', '/archive/storage', s3Storage(s3.endpoint, 'opentok', 'wrong-secret'))).status).toBe(200);
    const keptId = await recordArchive(t, 'individual');
    await waitUntil(async () => (await t.server.archives.uploads.upload(keptId))?.state === 'failed', 60_000, 'the upload given up');
    const kept = (await rest(t, 'GET', `/archive/${keptId}`)).body!;
    expect(kept['status']).toBe('available');
    expect(kept['reason']).toMatch(/upload to bucket "colloquy-archives" failed: SignatureDoesNotMatch.*stays available on this server \(fallback "opentok"\)/);
    const res = await fetch(kept['url'] as string);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/zip');
    const zip = Buffer.from(await res.arrayBuffer());
    expect(zip.length).toBe(kept['size']);
    expect(sha256(zip)).toBe(kept['sha256sum']);
    expect(await s3.getObject(BUCKET, `${TEST_API_KEY}/${keptId}/archive.zip`)).toBeNull();
  });
});

describe('an upload interrupted by a stop', { timeout: 600_000 }, () => {
  it('is still pending after the restart and resumes, then the archive is uploaded', async () => {
    const dataDir = tempDir();
    const port = await freePort();
    let t = await startTestServer({ COLLOQUY_DATA_DIR: dataDir, COLLOQUY_ARCHIVE_UPLOAD_RETRY_DELAY: '3600' });
    let s3: TestS3 | undefined;
    try {
      // Nobody listens on the port yet: the connection is refused, a failure worth retrying (in an hour).
      expect((await rest(t, 'PUT', '/archive/storage', s3Storage(`http://127.0.0.1:${port}`, 'none'))).status).toBe(200);
      const id = await recordArchive(t, 'individual');
      await waitUntil(async () => ((await t.server.archives.uploads.upload(id))?.attempts ?? 0) >= 1 && (await t.server.archives.uploads.upload(id))?.error != null, 60_000, 'a first failed attempt');
      expect((await t.server.archives.uploads.upload(id))).toMatchObject({ state: 'pending', error: expect.stringMatching(/ECONNREFUSED/) as string });
      expect((await rest(t, 'GET', `/archive/${id}`)).body).toMatchObject({ status: 'available' });
      await t.close();

      s3 = await startTestS3([BUCKET], port);
      t = await startTestServer({ COLLOQUY_DATA_DIR: dataDir, COLLOQUY_ARCHIVE_UPLOAD_RETRY_DELAY: '3600' });
      const archive = await statusOf(t, id, ['uploaded', 'failed'], 'the resumed upload');
      expect(archive['status']).toBe('uploaded');
      expect((await t.server.archives.uploads.upload(id))).toMatchObject({ state: 'uploaded', attempts: 2 });
      const object = await s3.getObject(BUCKET, `${TEST_API_KEY}/${id}/archive.zip`);
      expect(sha256(object!)).toBe(archive['sha256sum']);
    } finally {
      await t.close();
      await s3?.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
