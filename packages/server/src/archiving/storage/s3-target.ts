// Talking to the project's bucket with the AWS SDK: one multipart upload of an archive file
// (lib-storage's Upload: 8 MiB parts, two in flight, aborted on failure so no parts are left
// behind), a HEAD to check the object's size, and presigned GET links for downloads.
//
// Settings chosen for S3-compatible services, not only Amazon's:
// - a custom endpoint is addressed path-style (`endpoint/bucket/key`): virtual-host buckets need
//   wildcard DNS most self-hosted services do not have;
// - checksums only when an operation requires them: the SDK's default since 3.729 (CRC32 trailers
//   in aws-chunked bodies) is refused by many S3-compatible servers;
// - region us-east-1 with region redirects followed: OpenTok's settings have no region, and Amazon
//   answers a request signed for the wrong one with the bucket's region.
// The SDK's own retries are off (maxAttempts 1): ArchiveUploads retries whole uploads with its own
// backoff, bounded, and knows which failures are worth a retry.

import { createReadStream } from 'node:fs';
import { GetObjectCommand, HeadObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { ArchiveStorageSettings } from './storage-settings.js';

export const PART_SIZE = 8 * 1024 * 1024;
const PARTS_IN_FLIGHT = 2;
const REQUEST_TIMEOUT_MS = 60_000;

/** OpenTok's object key: `{apiKey}/{archiveId}/archive.mp4` (or `archive.zip` for individual archives). */
export function objectKey(projectId: string, archiveId: string, fileName: string): string {
  return `${projectId}/${archiveId}/${fileName}`;
}

export function s3Client(settings: Pick<ArchiveStorageSettings, 'accessKey' | 'secretKey' | 'endpoint'>): S3Client {
  return new S3Client({
    region: 'us-east-1',
    followRegionRedirects: true,
    ...(settings.endpoint ? { endpoint: settings.endpoint, forcePathStyle: true } : {}),
    credentials: { accessKeyId: settings.accessKey, secretAccessKey: settings.secretKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
    requestHandler: { requestTimeout: REQUEST_TIMEOUT_MS, connectionTimeout: 10_000 },
  });
}

export class UploadError extends Error {
  override name = 'UploadError';
  /** Whether trying again may help (network trouble, 5xx, throttling), as opposed to refused credentials or a missing bucket. */
  readonly transient: boolean;

  constructor(message: string, transient: boolean) {
    super(message);
    this.transient = transient;
  }
}

/** Describes an SDK failure in words an operator can act on, and whether to retry it. */
export function describeS3Error(err: unknown): UploadError {
  if (err instanceof UploadError) return err;
  if (err instanceof S3ServiceException) {
    const status = err.$metadata.httpStatusCode ?? 0;
    const transient = status >= 500 || status === 408 || status === 429 || status === 0;
    return new UploadError(`${err.name}${status ? ` (HTTP ${status})` : ''}: ${err.message}`, transient);
  }
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return new UploadError(`the archive file is missing from the data folder (${e.message})`, false);
  const detail = e.code ? `${e.code}: ${e.message}` : (e.message ?? String(err));
  // No answer at all (refused, reset, timed out, DNS): the network or the service may come back.
  return new UploadError(detail, true);
}

/**
 * Uploads a local file as one object and checks the bucket holds all of it. Rejects with an
 * UploadError; `signal` aborts it (the multipart upload is aborted on the service too).
 */
export async function uploadFile(
  client: S3Client,
  target: { bucket: string; key: string; path: string; size: number; contentType: string; sse: 's3' | 'none' | null },
  signal?: AbortSignal,
): Promise<void> {
  try {
    const upload = new Upload({
      client,
      params: {
        Bucket: target.bucket,
        Key: target.key,
        Body: createReadStream(target.path),
        ContentType: target.contentType,
        ContentLength: target.size,
        ...(target.sse === 's3' ? { ServerSideEncryption: 'AES256' as const } : {}),
      },
      partSize: PART_SIZE,
      queueSize: PARTS_IN_FLIGHT,
      leavePartsOnError: false,
      ...(signal ? { abortController: abortControllerFor(signal) } : {}),
    });
    await upload.done();
    const head = await client.send(new HeadObjectCommand({ Bucket: target.bucket, Key: target.key }), { abortSignal: signal });
    if (head.ContentLength !== target.size) {
      throw new UploadError(`the bucket holds ${head.ContentLength ?? 'no'} bytes of the ${target.size} uploaded`, true);
    }
  } catch (err) {
    throw describeS3Error(err);
  }
}

/** lib-storage takes an AbortController; ours is a signal. */
function abortControllerFor(signal: AbortSignal): AbortController {
  const controller = new AbortController();
  if (signal.aborted) controller.abort();
  else signal.addEventListener('abort', () => controller.abort(), { once: true });
  return controller;
}

/** A presigned GET link to the object, valid `expiresIn` seconds, naming the file for the browser. */
export function presignedDownload(client: S3Client, bucket: string, key: string, expiresIn: number, downloadName: string, contentType: string): Promise<string> {
  return getSignedUrl(
    client,
    new GetObjectCommand({ Bucket: bucket, Key: key, ResponseContentDisposition: `attachment; filename="${downloadName}"`, ResponseContentType: contentType }),
    { expiresIn },
  );
}
