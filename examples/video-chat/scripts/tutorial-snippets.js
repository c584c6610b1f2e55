// @ts-check
// The link between docs/tutorial-video-chat.md and this app's files. The app's files are cut into
// regions (`// #region NAME` … `// #endregion`, or the HTML and CSS comment forms); each code block
// of the tutorial is marked `<!-- snippet: FILE#NAME -->` and shows one region. test/tutorial.test.ts
// checks that they match; after changing the app, `npm run tutorial:sync -w examples/video-chat`
// copies the regions into the tutorial's code blocks (the prose around them is yours to update).

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const APP_DIR = fileURLToPath(new URL('..', import.meta.url));
export const DOC = fileURLToPath(new URL('../../../docs/tutorial-video-chat.md', import.meta.url));
/** The files a reader of the tutorial writes, relative to the app's folder. */
export const FILES = ['handler.js', 'server.js', 'public/index.html', 'public/style.css', 'public/app.js'];

const REGION_START = [/^\s*\/\/ #region (\S+)$/, /^\s*<!-- #region (\S+) -->$/, /^\s*\/\* #region (\S+) \*\/$/];
const REGION_END = [/^\s*\/\/ #endregion$/, /^\s*<!-- #endregion -->$/, /^\s*\/\* #endregion \*\/$/];
const SNIPPET = /<!-- snippet: ([\w./-]+)#([\w-]+) -->\n```([a-z]*)\n([\s\S]*?)\n```\n/g;

/**
 * A file's regions in order. `problems` lists what would make the tutorial incomplete or wrong:
 * text outside every region (a reader would never see it), nested or unclosed regions, two
 * regions with one name.
 * @param {string} file relative to the app's folder
 */
export function regionsOf(file) {
  const lines = readFileSync(new URL(file, `file://${APP_DIR}/`), 'utf8').split('\n');
  if (lines.at(-1) === '') lines.pop();
  /** @type {{name: string, text: string}[]} */
  const regions = [];
  /** @type {string[]} */
  const problems = [];
  /** @type {{name: string, lines: string[]} | null} */
  let open = null;
  lines.forEach((line, i) => {
    const start = REGION_START.map((re) => re.exec(line)).find(Boolean);
    if (start) {
      if (open) problems.push(`${file}:${i + 1}: region ${start[1]} opens inside region ${open.name}`);
      open = { name: String(start[1]), lines: [] };
    } else if (REGION_END.some((re) => re.test(line))) {
      if (open) regions.push({ name: open.name, text: open.lines.join('\n') });
      else problems.push(`${file}:${i + 1}: #endregion without #region`);
      open = null;
    } else if (open) open.lines.push(line);
    else if (line.trim() !== '') problems.push(`${file}:${i + 1}: outside every region, so the tutorial cannot show it: ${line}`);
  });
  if (open) problems.push(`${file}: region ${/** @type {{name: string}} */ (open).name} is never closed`);
  const names = regions.map((r) => r.name);
  for (const name of new Set(names)) if (names.indexOf(name) !== names.lastIndexOf(name)) problems.push(`${file}: two regions named ${name}`);
  return { regions, problems };
}

/**
 * The tutorial's marked code blocks, in document order.
 * @param {string} doc
 */
export function snippetsOf(doc) {
  return [...doc.matchAll(SNIPPET)].map((m) => ({
    file: String(m[1]),
    region: String(m[2]),
    lang: String(m[3]),
    text: String(m[4]),
    line: doc.slice(0, m.index).split('\n').length,
  }));
}

/** Rewrites each marked code block of the tutorial with the current text of its region. */
function sync() {
  /** @type {Map<string, string>} */
  const current = new Map();
  for (const file of FILES) {
    const { regions, problems } = regionsOf(file);
    if (problems.length) throw new Error(problems.join('\n'));
    for (const r of regions) current.set(`${file}#${r.name}`, r.text);
  }
  let missing = 0;
  const doc = readFileSync(DOC, 'utf8').replace(SNIPPET, (block, file, region, lang) => {
    const text = current.get(`${file}#${region}`);
    if (text === undefined) {
      console.error(`no region ${file}#${region}`);
      missing++;
      return block;
    }
    return `<!-- snippet: ${file}#${region} -->\n\`\`\`${lang}\n${text}\n\`\`\`\n`;
  });
  writeFileSync(DOC, doc);
  const shown = new Set(snippetsOf(doc).map((s) => `${s.file}#${s.region}`));
  for (const key of current.keys()) if (!shown.has(key)) console.error(`not in the tutorial yet: ${key}`);
  if (missing) process.exitCode = 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) sync();
