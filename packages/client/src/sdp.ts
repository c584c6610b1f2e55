// Opus options in SDP: the only SDP this SDK edits. Browsers expose stereo and the average bitrate
// only through Opus's fmtp line: a sender encodes stereo when the *remote* description says
// `stereo=1` and targets its `maxaveragebitrate`; a receiver decodes two channels when its *local*
// description says `stereo=1`; it uses discontinuous transmission when the remote says `usedtx=1`.
// OT.initPublisher's enableStereo, audioBitrate and enableDtx go through here.

export interface OpusOptions {
  /** `stereo` (and `sprop-stereo`): true sets them to 1, false removes them, undefined leaves them. */
  stereo?: boolean;
  /** `maxaveragebitrate` in bits per second; null removes it, undefined leaves it. */
  maxAverageBitrate?: number | null;
  /** `usedtx`: true sets it to 1, false removes it, undefined leaves it. */
  dtx?: boolean;
}

/** The SDP with every Opus payload type's fmtp changed as `options` says (a line is added if there is none). */
export function withOpusOptions(sdp: string, options: OpusOptions): string {
  const eol = sdp.includes('\r\n') ? '\r\n' : '\n';
  const lines = sdp.split(eol);
  const opus = new Set<string>();
  for (const line of lines) {
    const m = /^a=rtpmap:(\d+) opus\/48000/i.exec(line);
    if (m) opus.add(m[1]!);
  }
  if (opus.size === 0) return sdp;
  const edit = (params: string): string => {
    const entries = params
      .split(';')
      .map((p) => p.trim())
      .filter((p) => p !== '');
    const map = new Map<string, string>();
    for (const entry of entries) {
      const eq = entry.indexOf('=');
      map.set(eq < 0 ? entry : entry.slice(0, eq).toLowerCase(), eq < 0 ? '' : entry.slice(eq + 1));
    }
    if (options.stereo === true) {
      map.set('stereo', '1');
      map.set('sprop-stereo', '1');
    } else if (options.stereo === false) {
      map.delete('stereo');
      map.delete('sprop-stereo');
    }
    if (options.dtx === true) map.set('usedtx', '1');
    else if (options.dtx === false) map.delete('usedtx');
    if (options.maxAverageBitrate === null) map.delete('maxaveragebitrate');
    else if (options.maxAverageBitrate !== undefined) map.set('maxaveragebitrate', String(Math.round(options.maxAverageBitrate)));
    return [...map].map(([k, v]) => (v === '' ? k : `${k}=${v}`)).join(';');
  };
  const out: string[] = [];
  const hasFmtp = new Set<string>();
  for (const line of lines) {
    const m = /^a=fmtp:(\d+) (.*)$/.exec(line);
    if (m && opus.has(m[1]!)) {
      hasFmtp.add(m[1]!);
      out.push(`a=fmtp:${m[1]} ${edit(m[2]!)}`);
    } else out.push(line);
  }
  // An Opus payload type without an fmtp line: add one after its rtpmap, if there is anything to say.
  for (const pt of opus) {
    if (hasFmtp.has(pt)) continue;
    const params = edit('');
    if (params === '') continue;
    const at = out.findIndex((l) => new RegExp(`^a=rtpmap:${pt} `).test(l));
    out.splice(at + 1, 0, `a=fmtp:${pt} ${params}`);
  }
  return out.join(eol);
}
