// The pocketsphinx engine process: one per captioned stream (pocketsphinx-provider.ts starts it).
// It reads raw 16 kHz 16-bit mono little-endian PCM on stdin, runs it through Debian's
// libpocketsphinx (loaded with koffi: no native build; the `pocketsphinx_continuous` CLI prints only
// final results, and captions need partial ones too) and writes one JSON object per line on stdout:
//   {"type":"ready"}                           the model is loaded
//   {"type":"partial","text":"hello col"}      the phrase so far (at most every --partial-ms)
//   {"type":"final","text":"hello colloquy"}   the phrase ended (the decoder's voice activity detection)
// A fatal problem goes to stderr and the process exits 1. It exits 0 when stdin ends.
//
// Arguments: --hmm DIR --lm FILE --dict FILE [--partial-ms N] (0: no partial results).

import koffi from 'koffi';

const SAMPLE_RATE = 16000;
/** An utterance that never ends (steady noise taken for speech) is cut here, so captions keep flowing. */
const MAX_UTTERANCE_SAMPLES = SAMPLE_RATE * 20;
/** Samples handed to the decoder at once: 100 ms. */
const CHUNK = SAMPLE_RATE / 10;

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function fail(message: string): never {
  process.stderr.write(`pocketsphinx worker: ${message}\n`);
  process.exit(1);
}

function write(message: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

const hmm = arg('hmm');
const lm = arg('lm');
const dict = arg('dict');
const partialMs = Number(arg('partial-ms') ?? '300');
if (!hmm || !lm || !dict) fail('usage: --hmm DIR --lm FILE --dict FILE [--partial-ms N]');
if (!Number.isInteger(partialMs) || partialMs < 0) fail('--partial-ms must be a whole number of milliseconds');

// libpocketsphinx 5prealpha (Debian 12's libpocketsphinx3) and libsphinxbase3: the C API is
// ps_args/cmd_ln_init for the configuration, then ps_init, ps_start_utt, ps_process_raw,
// ps_get_in_speech, ps_get_hyp, ps_end_utt.
function loadApi() {
  const sphinxbase = koffi.load('libsphinxbase.so.3');
  const pocketsphinx = koffi.load('libpocketsphinx.so.3');
  return {
    errSetLogfp: sphinxbase.func('void err_set_logfp(void *fp)'),
    cmdLnInit: sphinxbase.func('void *cmd_ln_init(void *inout, void *defn, int strict, ...)'),
    psArgs: pocketsphinx.func('void *ps_args()'),
    psInit: pocketsphinx.func('void *ps_init(void *config)'),
    psStartUtt: pocketsphinx.func('int ps_start_utt(void *ps)'),
    psEndUtt: pocketsphinx.func('int ps_end_utt(void *ps)'),
    psProcessRaw: pocketsphinx.func('int ps_process_raw(void *ps, const int16_t *data, size_t n, int no_search, int full_utt)'),
    psGetHyp: pocketsphinx.func('const char *ps_get_hyp(void *ps, _Out_ int32_t *score)'),
    psGetInSpeech: pocketsphinx.func('uint8_t ps_get_in_speech(void *ps)'),
  };
}

let api: ReturnType<typeof loadApi>;
try {
  api = loadApi();
} catch (err) {
  fail(`cannot load libpocketsphinx (Debian package pocketsphinx): ${(err as Error).message}`);
}

// The library logs every utterance to stderr; the parent keeps our stderr for real errors.
api.errSetLogfp(null);
const config = api.cmdLnInit(null, api.psArgs(), 1, 'str', '-hmm', 'str', hmm, 'str', '-lm', 'str', lm, 'str', '-dict', 'str', dict, 'str', '-samprate', 'str', String(SAMPLE_RATE), 'void *', null);
if (!config) fail('the decoder configuration was refused');
const decoder = api.psInit(config);
if (!decoder) fail(`the model could not be loaded (hmm ${hmm}, lm ${lm}, dict ${dict})`);
if (api.psStartUtt(decoder) < 0) fail('the decoder could not start an utterance');
write({ type: 'ready' });

let inSpeech = false;
let utteranceSamples = 0;
/**
 * Audio (in samples) since the last partial result. Partials are paced by audio time, not wall time:
 * asking the decoder for its hypothesis mid-utterance at wall-clock moments made what it finally
 * heard depend on the machine's load (the same sentence came out as 4 of 7 words or none).
 */
let samplesSincePartial = 0;
const partialSamples = Math.round((partialMs * 16000) / 1000);
let lastPartial = '';
/** A byte left over when a chunk of stdin ends in the middle of a sample. */
let oddByte: number | null = null;
const pending: Int16Array[] = [];
let pendingSamples = 0;

function hypothesis(): string {
  const text = api.psGetHyp(decoder, [0]) as string | null;
  return (text ?? '').trim();
}

function endUtterance(): void {
  api.psEndUtt(decoder);
  const text = hypothesis();
  if (text) write({ type: 'final', text });
  api.psStartUtt(decoder);
  inSpeech = false;
  utteranceSamples = 0;
  samplesSincePartial = 0;
  lastPartial = '';
}

function decode(samples: Int16Array): void {
  api.psProcessRaw(decoder, samples, samples.length, 0, 0);
  const speaking = api.psGetInSpeech(decoder) !== 0;
  if (speaking) {
    inSpeech = true;
    utteranceSamples += samples.length;
    samplesSincePartial += samples.length;
    if (partialMs > 0 && samplesSincePartial >= partialSamples) {
      samplesSincePartial = 0;
      const text = hypothesis();
      if (text && text !== lastPartial) {
        lastPartial = text;
        write({ type: 'partial', text });
      }
    }
    if (utteranceSamples >= MAX_UTTERANCE_SAMPLES) endUtterance();
  } else if (inSpeech) {
    endUtterance();
  }
}

process.stdin.on('data', (chunk: Buffer) => {
  let bytes = chunk;
  if (oddByte !== null) {
    bytes = Buffer.concat([Buffer.from([oddByte]), chunk]);
    oddByte = null;
  }
  if (bytes.length % 2 === 1) {
    oddByte = bytes[bytes.length - 1]!;
    bytes = bytes.subarray(0, bytes.length - 1);
  }
  // Copied: an Int16Array needs 2-byte alignment, which a Buffer slice does not promise.
  const samples = new Int16Array(bytes.length / 2);
  for (let i = 0; i < samples.length; i++) samples[i] = bytes.readInt16LE(i * 2);
  pending.push(samples);
  pendingSamples += samples.length;
  while (pendingSamples >= CHUNK) {
    const block = new Int16Array(CHUNK);
    let filled = 0;
    while (filled < CHUNK) {
      const head = pending[0]!;
      const take = Math.min(head.length, CHUNK - filled);
      block.set(head.subarray(0, take), filled);
      filled += take;
      if (take === head.length) pending.shift();
      else pending[0] = head.subarray(take);
    }
    pendingSamples -= CHUNK;
    decode(block);
  }
});

process.stdin.on('end', () => {
  if (pendingSamples > 0) {
    const rest = new Int16Array(pendingSamples);
    let at = 0;
    for (const part of pending) {
      rest.set(part, at);
      at += part.length;
    }
    decode(rest);
  }
  if (inSpeech) endUtterance();
  process.exit(0);
});
