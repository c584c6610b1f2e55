// Archive upload to S3-compatible storage: the server's own upload path (`uploadFile`: lib-storage
// multipart, 8 MiB parts, two in flight, then a HEAD) against a single PutObject of the same file
// (the baseline, measured in the same run), to an S3-compatible server on loopback
// (@20minutes/s3rver, which checks SigV4 and stores objects as files). Prints ms and MB/s per size
// (median of rounds). On loopback this measures the client's and the test server's costs, not a
// network: a real bucket is bounded by the link.
//   SIZES_MB=16,64,256 ROUNDS=3 npm run archiving:upload -w @colloquy/bench

import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { s3Client, uploadFile } from '@colloquy/server';
import S3rver from '@20minutes/s3rver';
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { envInt, fmt, median, table } from '../lib/stats.js';

const ROUNDS = envInt('ROUNDS', 3);
const SIZES_MB = (process.env['SIZES_MB'] ?? '16,64,256').split(',').map(Number).filter((n) => n > 0);
const BUCKET = 'bench-archives';

const scratch = mkdtempSync(join(tmpdir(), 'colloquy-upload-bench-'));
const s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: join(scratch, 's3'), configureBuckets: [{ name: BUCKET }] });
const { port } = await s3.run();
const settings = { endpoint: `http://127.0.0.1:${port}`, accessKey: 'S3RVER', secretKey: 'S3RVER' };
const client = s3Client(settings);
// The SDK loads and sets itself up on its first call: not part of any upload's time.
await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'warm-up', Body: 'x' }));

const rows: string[][] = [];
try {
  for (const mb of SIZES_MB) {
    const size = mb * 1024 * 1024;
    const path = join(scratch, `archive-${mb}.mp4`);
    writeFileSync(path, randomBytes(size));
    const multipart: number[] = [];
    const single: number[] = [];
    const viaUploadFile = async (r: number): Promise<void> => {
      const t = performance.now();
      await uploadFile(client, { bucket: BUCKET, key: `multipart/${mb}/${r}/archive.mp4`, path, size, contentType: 'video/mp4', sse: null });
      multipart.push(performance.now() - t);
    };
    const viaSinglePut = async (r: number): Promise<void> => {
      const t = performance.now();
      await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `single/${mb}/${r}/archive.mp4`, Body: createReadStream(path), ContentLength: size, ContentType: 'video/mp4' }));
      await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: `single/${mb}/${r}/archive.mp4` }));
      single.push(performance.now() - t);
    };
    // Alternating which goes first, so that neither always meets a cold page cache or socket.
    for (let r = 0; r < ROUNDS; r++) {
      if (r % 2 === 0) await viaUploadFile(r).then(() => viaSinglePut(r));
      else await viaSinglePut(r).then(() => viaUploadFile(r));
    }
    const m = median(multipart);
    const s = median(single);
    rows.push([`${mb} MB`, fmt(m, 0), fmt(mb / (m / 1000), 1), fmt(s, 0), fmt(mb / (s / 1000), 1), fmt(m / s, 2)]);
    rmSync(path);
    for (const prefix of ['multipart', 'single']) rmSync(join(scratch, 's3', BUCKET, prefix), { recursive: true, force: true });
  }
} finally {
  client.destroy();
  await s3.close();
  rmSync(scratch, { recursive: true, force: true });
}
console.log(`archive upload to S3-compatible storage on loopback (median of ${ROUNDS})`);
console.log(table([['size', 'uploadFile ms', 'MB/s', 'single PUT ms', 'MB/s', 'ratio'], ...rows]));
