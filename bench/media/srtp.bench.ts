// CPU per 1200-byte packet of SRTP protect and unprotect: ours (media/srtp) against werift's
// SrtpSession in the same run, for AES_CM_128_HMAC_SHA1_80 and AEAD_AES_128_GCM; plus the building
// blocks the design chose between (keystream from a long-lived ECB cipher vs a CTR cipher per
// packet; HMAC-SHA1 per packet from a Buffer key or a KeyObject vs copy() of keyed hash states).
//   PACKETS=4000 ROUNDS=9 npm run media:srtp -w @colloquy/bench

import { createCipheriv, createHash, createHmac, createSecretKey, randomBytes } from 'node:crypto';
import { SrtpProfile, SrtpSession } from '@colloquy/sfu';
import { RtpHeader, SrtpSession as WeriftSrtpSession } from 'werift';
import { envInt, median, table } from '../lib/stats.js';

const PACKETS = envInt('PACKETS', 4000);
const ROUNDS = envInt('ROUNDS', 9);
const PAYLOAD = 1200;

function cpuPerCall(run: () => void, calls: number): number {
  const before = process.cpuUsage();
  run();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / calls;
}

/** A 1200-byte VP8-like packet's header: 12 bytes plus a one-byte-form extension block (8 bytes). */
function headerBytes(seq: number): Buffer {
  const h = new RtpHeader({
    payloadType: 96,
    sequenceNumber: seq & 0xffff,
    timestamp: seq * 3000,
    ssrc: 0x11223344,
    marker: false,
    extensionProfile: 0xbede,
    extensions: [{ id: 2, payload: Buffer.from([1, 2, 3]) }],
  });
  return h.serialize(h.serializeSize);
}

const payload = randomBytes(PAYLOAD);
const headers = Array.from({ length: PACKETS }, (_, i) => headerBytes(i));
const weriftHeaders = headers.map((h) => RtpHeader.deSerialize(h));

type Profile = typeof SrtpProfile.AES_CM_128_HMAC_SHA1_80 | typeof SrtpProfile.AEAD_AES_128_GCM;

function keys(profile: Profile) {
  const salt = profile === SrtpProfile.AEAD_AES_128_GCM ? 12 : 14;
  return { localMasterKey: randomBytes(16), localMasterSalt: randomBytes(salt), remoteMasterKey: randomBytes(16), remoteMasterSalt: randomBytes(salt) };
}

/** Same keys both ways round, so one side's output is the other's input. */
function sessions(profile: Profile) {
  const k = keys(profile);
  const mirrored = { localMasterKey: k.remoteMasterKey, localMasterSalt: k.remoteMasterSalt, remoteMasterKey: k.localMasterKey, remoteMasterSalt: k.localMasterSalt };
  return {
    ours: () => new SrtpSession({ profile, ...k }),
    oursPeer: () => new SrtpSession({ profile, ...mirrored }),
    werift: () => new WeriftSrtpSession({ profile, keys: k }),
    weriftPeer: () => new WeriftSrtpSession({ profile, keys: mirrored }),
  };
}

const results = new Map<string, number[]>();
const record = (name: string, value: number) => {
  if (!results.has(name)) results.set(name, []);
  results.get(name)!.push(value);
};

const out = Buffer.alloc(2048);
const scratch = Buffer.alloc(2048);
for (const [label, profile] of [
  ['AES_CM_128_HMAC_SHA1_80', SrtpProfile.AES_CM_128_HMAC_SHA1_80],
  ['AEAD_AES_128_GCM', SrtpProfile.AEAD_AES_128_GCM],
] as const) {
  const s = sessions(profile);
  // Packets protected by the peers, to unprotect (distinct sequence numbers: no replays).
  const peer = s.oursPeer();
  const protectedPackets = headers.map((h) => {
    const n = peer.outbound.protect(h, payload, out);
    return Buffer.from(out.subarray(0, n));
  });
  for (let round = 0; round < ROUNDS + 1; round++) {
    const ours = s.ours();
    const werift = s.werift();
    const oursProtect = cpuPerCall(() => {
      for (let i = 0; i < PACKETS; i++) ours.outbound.protect(headers[i]!, payload, out);
    }, PACKETS);
    const weriftProtect = cpuPerCall(() => {
      for (let i = 0; i < PACKETS; i++) werift.encrypt(payload, weriftHeaders[i]!);
    }, PACKETS);
    // Unprotect works in place: both sides get the same copy into a scratch buffer first.
    const receiver = s.ours();
    const oursUnprotect = cpuPerCall(() => {
      for (let i = 0; i < PACKETS; i++) {
        const p = protectedPackets[i]!;
        p.copy(scratch);
        if (receiver.inbound.unprotect(scratch, p.length) < 0) throw new Error('ours failed to unprotect');
      }
    }, PACKETS);
    const weriftReceiver = s.werift();
    const weriftUnprotect = cpuPerCall(() => {
      for (let i = 0; i < PACKETS; i++) {
        const p = protectedPackets[i]!;
        p.copy(scratch);
        weriftReceiver.decrypt(scratch.subarray(0, p.length));
      }
    }, PACKETS);
    if (round === 0) continue; // warm-up
    record(`${label} protect`, oursProtect);
    record(`${label} protect werift`, weriftProtect);
    record(`${label} unprotect`, oursUnprotect);
    record(`${label} unprotect werift`, weriftUnprotect);
  }
}

// Building blocks (1216 bytes authenticated / encrypted, as above).
const data = Buffer.concat([headers[0]!, payload]);
const hmacKey = randomBytes(20);
const hmacKeyObject = createSecretKey(hmacKey);
const ipad = Buffer.alloc(64, 0x36);
const opad = Buffer.alloc(64, 0x5c);
for (let i = 0; i < 20; i++) {
  ipad[i]! ^= hmacKey[i]!;
  opad[i]! ^= hmacKey[i]!;
}
const inner = createHash('sha1').update(ipad);
const outer = createHash('sha1').update(opad);
const aesKey = randomBytes(16);
const ecb = createCipheriv('aes-128-ecb', aesKey, null);
ecb.setAutoPadding(false);
const counterBlocks = Buffer.alloc(76 * 16);
const gcmKey = createSecretKey(aesKey);
const iv12 = Buffer.alloc(12);
const iv16 = Buffer.alloc(16);
const blocks: [string, () => void][] = [
  ['HMAC-SHA1 createHmac(Buffer key)', () => createHmac('sha1', hmacKey).update(data).digest()],
  ['HMAC-SHA1 createHmac(KeyObject)  [chosen]', () => createHmac('sha1', hmacKeyObject).update(data).digest()],
  ['HMAC-SHA1 keyed hash copy() x2', () => outer.copy().update(inner.copy().update(data).digest()).digest()],
  ['AES-CM createCipheriv(ctr) per packet', () => createCipheriv('aes-128-ctr', aesKey, iv16).update(payload)],
  ['AES-CM long-lived ECB keystream  [chosen]', () => ecb.update(counterBlocks)],
  ['AES-GCM createCipheriv(KeyObject) per packet', () => {
    const c = createCipheriv('aes-128-gcm', gcmKey, iv12);
    c.setAAD(headers[0]!);
    c.update(payload);
    c.final();
    c.getAuthTag();
  }],
];
for (let round = 0; round < ROUNDS + 1; round++) {
  for (const [name, fn] of blocks) {
    const v = cpuPerCall(() => {
      for (let i = 0; i < PACKETS; i++) fn();
    }, PACKETS);
    if (round > 0) record(name, v);
  }
}

console.log(`SRTP, ${PAYLOAD}-byte payload + 20-byte header, ${PACKETS} packets x ${ROUNDS} rounds, median CPU µs per packet\n`);
const rows: (string | number)[][] = [['profile / operation', 'ours µs', 'werift µs', 'ours/werift']];
for (const label of ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM']) {
  for (const op of ['protect', 'unprotect']) {
    const o = median(results.get(`${label} ${op}`)!);
    const w = median(results.get(`${label} ${op} werift`)!);
    rows.push([`${label} ${op}`, o.toFixed(2), w.toFixed(2), `${(o / w).toFixed(2)}x`]);
  }
}
console.log(table(rows));
console.log('\nbuilding blocks, one call per packet\n');
console.log(table([['operation', 'µs'], ...blocks.map(([name]) => [name, median(results.get(name)!).toFixed(2)])]));
