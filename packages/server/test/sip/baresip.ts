// Debian's baresip as the far end of SIP tests: a real SIP user agent on loopback that auto-answers,
// plays a WAV file as its microphone (aufile), records what it hears to WAV files (sndfile), and is
// driven over its ctrl_tcp socket (hangup, sndcode for DTMF). Each instance gets its own config
// folder, written here, and its own ports. With `tls` it also takes SIP over TLS (on its SIP port + 1,
// where baresip puts it) with the given certificate, and with `srtp` it insists on SRTP with SDES
// (the srtp module's `srtp-mand`: an offer without RTP/SAVP and a key is refused). With `video` it
// does VP8: its camera is `fakevideo` (a generated picture), its display fakevideo's null display,
// and the `snapshot` module writes the next decoded received frame as a PNG (snapshot-recv-*.png in
// its folder) when told `snapshot`.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { createSocket } from 'node:dgram';
import { join } from 'node:path';

/** A port free for both UDP and TCP on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const p = (server.address() as { port: number }).port;
        server.close(() => resolve(p));
      });
    });
    const udpFree = await new Promise<boolean>((resolve) => {
      const s = createSocket('udp4');
      s.once('error', () => resolve(false));
      s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (udpFree) return port;
  }
  throw new Error('no free port');
}

export interface BaresipOptions {
  dir: string;
  /** WAV file baresip plays as its microphone. */
  wav: string;
  /** Load the Opus codec too (G.711 only otherwise). */
  opus?: boolean;
  /** SIP over TLS: baresip's certificate and key in one PEM file, and the CA file it trusts. */
  tls?: { certAndKeyFile: string; caFile: string };
  /** Media encryption: SRTP with SDES, mandatory. */
  srtp?: boolean;
  /** VP8 video: fakevideo as the camera (this size), snapshots of what it decodes. */
  video?: { width: number; height: number };
}

/** A port free for UDP and TCP whose next port is free for TCP too (baresip's TLS listener, always opened). */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freePort();
    if (port >= 65535) continue;
    const nextFree = await new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once('error', () => resolve(false));
      server.listen(port + 1, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (nextFree) return port;
  }
  throw new Error('no free port pair');
}

export class Baresip {
  readonly sipPort: number;
  readonly tls: boolean;
  readonly dir: string;
  readonly output: string[] = [];
  readonly #ctrlPort: number;
  readonly #proc: ChildProcess;
  #exited = false;

  private constructor(proc: ChildProcess, dir: string, sipPort: number, ctrlPort: number, tls: boolean) {
    this.#proc = proc;
    this.tls = tls;
    this.dir = dir;
    this.sipPort = sipPort;
    this.#ctrlPort = ctrlPort;
    const collect = (chunk: Buffer) => this.output.push(...chunk.toString().split('\n').filter(Boolean));
    proc.stdout?.on('data', collect);
    proc.stderr?.on('data', collect);
    // 'close' comes after the last of its output, so an exit's reason is in `output` when seen.
    proc.once('close', () => (this.#exited = true));
  }

  /**
   * Starts baresip on ports free a moment ago. Another process (a parallel test file, or a sibling
   * started in the same Promise.all) can take one before baresip binds it; baresip then exits with
   * "Address already in use", and it is started again on fresh ports (a few times at most).
   */
  static async start(options: BaresipOptions): Promise<Baresip> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await Baresip.#startOnce(options);
      } catch (err) {
        if (attempt >= 5 || !(err instanceof Error) || !/Address already in use/.test(err.message)) throw err;
      }
    }
  }

  static async #startOnce(options: BaresipOptions): Promise<Baresip> {
    // baresip also listens for TLS on the next port, with or without a certificate.
    const sipPort = await freePortPair();
    let ctrlPort = await freePort();
    while (ctrlPort === sipPort + 1) ctrlPort = await freePort();
    mkdirSync(options.dir, { recursive: true });
    writeFileSync(
      join(options.dir, 'config'),
      [
        'poll_method epoll',
        `sip_listen 127.0.0.1:${sipPort}`,
        ...(options.tls ? [`sip_certificate ${options.tls.certAndKeyFile}`, `sip_cafile ${options.tls.caFile}`] : []),
        // No sound card here: ALSA's null device is the speaker, the WAV file the microphone.
        'audio_player alsa,null',
        'audio_alert alsa,null',
        `audio_source aufile,${options.wav}`,
        'module_path /usr/lib/baresip/modules',
        ...(options.opus ? ['module opus.so'] : []),
        'module g711.so',
        'module aufile.so',
        'module alsa.so',
        'module sndfile.so',
        ...(options.srtp ? ['module srtp.so'] : []),
        ...(options.video
          ? ['module vp8.so', 'module fakevideo.so', 'module snapshot.so', 'video_source fakevideo,nil', 'video_display fakevideo,nil', `video_size ${options.video.width}x${options.video.height}`, 'video_fps 15', 'video_bitrate 300000']
          : []),
        'module_app account.so',
        'module_app menu.so',
        'module_app ctrl_tcp.so',
        `ctrl_tcp_listen 127.0.0.1:${ctrlPort}`,
        `snd_path ${options.dir}`,
        // RFC 4733 DTMF (telephone-event) is baresip's default for sending digits.
        '',
      ].join('\n'),
    );
    const transport = options.tls ? `:${sipPort + 1};transport=tls` : `:${sipPort}`;
    writeFileSync(join(options.dir, 'accounts'), `<sip:bob@127.0.0.1${transport}>;regint=0;answermode=auto${options.srtp ? ';mediaenc=srtp-mand' : ''}\n`);
    writeFileSync(join(options.dir, 'contacts'), '');
    // Its folder is its working directory: the snapshot module writes there.
    const proc = spawn('baresip', ['-f', options.dir], { stdio: ['ignore', 'pipe', 'pipe'], cwd: options.dir });
    const b = new Baresip(proc, options.dir, sipPort, ctrlPort, options.tls !== undefined);
    try {
      await b.waitFor(/baresip is ready/, 15_000);
    } catch (err) {
      await b.stop();
      throw err;
    }
    return b;
  }

  /** Its address of record: over TLS when it was started with `tls`. */
  get uri(): string {
    return this.tls ? `sip:bob@127.0.0.1:${this.sipPort + 1};transport=tls` : `sip:bob@127.0.0.1:${this.sipPort}`;
  }

  /** Waits until a line of baresip's output matches. */
  async waitFor(pattern: RegExp, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.output.find((l) => pattern.test(l));
      if (line) return line;
      if (this.#exited) throw new Error(`baresip exited before ${pattern}: ${this.output.slice(-20).join('\n')}`);
      if (Date.now() > deadline) throw new Error(`baresip never printed ${pattern}: ${this.output.slice(-20).join('\n')}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  count(pattern: RegExp): number {
    return this.output.filter((l) => pattern.test(l)).length;
  }

  /** One ctrl_tcp command (netstring JSON); resolves with baresip's response. */
  async command(command: string, params = ''): Promise<Record<string, unknown>> {
    const socket: Socket = createConnection(this.#ctrlPort, '127.0.0.1');
    const body = JSON.stringify({ command, params, token: `t${Date.now()}` });
    socket.write(`${Buffer.byteLength(body)}:${body},`);
    return new Promise((resolve, reject) => {
      let buffer = '';
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`baresip did not answer ${command}`));
      }, 10_000);
      socket.on('data', (chunk) => {
        buffer += chunk.toString();
        // Netstrings: "len:{json},". Events come too; take the response.
        for (;;) {
          const colon = buffer.indexOf(':');
          if (colon < 0) return;
          const len = Number(buffer.slice(0, colon));
          if (buffer.length < colon + 1 + len + 1) return;
          const json = JSON.parse(buffer.slice(colon + 1, colon + 1 + len)) as Record<string, unknown>;
          buffer = buffer.slice(colon + 1 + len + 1);
          if (json['response']) {
            clearTimeout(timer);
            socket.end();
            resolve(json);
            return;
          }
        }
      });
      socket.on('error', reject);
    });
  }

  /** WAV files sndfile wrote (one per direction per call). */
  recordings(): string[] {
    return readdirSync(this.dir)
      .filter((f) => f.startsWith('dump-') && f.endsWith('.wav'))
      .map((f) => join(this.dir, f));
  }

  /** PNG snapshots of received video that the snapshot module wrote. */
  receivedSnapshots(): string[] {
    return readdirSync(this.dir)
      .filter((f) => f.startsWith('snapshot-recv') && f.endsWith('.png'))
      .map((f) => join(this.dir, f));
  }

  async stop(): Promise<void> {
    if (this.#exited || this.#proc.exitCode !== null || this.#proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.#proc.once('exit', () => resolve()));
    this.#proc.kill('SIGTERM');
    const timer = setTimeout(() => this.#proc.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  }
}
