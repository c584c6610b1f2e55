// The `custom` layout: OpenTok's stylesheet over a virtual DOM `<archive><stream class="…"/>…</archive>`.
// Supported: type (`stream`) and class selectors, :first-child, :last-child, :nth-child(),
// :nth-last-child(), the `+` and `~` combinators, comma lists; properties width/height (and min/max),
// left/right/top/bottom, margin(-*), z-index, position (absolute/relative/static), float (left/right/none),
// clear, display (none hides a stream), object-fit (contain/cover). Anything else OpenTok documents as
// unsupported (descendant and child combinators, ids, attributes, *, pseudo-elements) is refused with a
// message naming it; unknown properties are ignored as CSS does. css-tree tokenizes and parses (comments,
// strings, escapes as the CSS Syntax spec says); this file turns its AST into rules, matches them
// against the streams and lays the boxes out.

import { generate, parse, tokenize, tokenTypes, type PseudoClassSelector, type Selector as CssSelector, type StyleSheet } from 'css-tree';

/** Where a stream is painted on the composed frame (pixels). */
export interface BoxGeometry {
  x: number;
  y: number;
  width: number;
  height: number;
  /** Painting order: higher on top. */
  z: number;
  fit: 'contain' | 'cover';
}

export interface CssBox extends BoxGeometry {
  index: number;
}

interface Compound {
  type: 'stream' | 'archive' | null;
  classes: string[];
  pseudos: Array<{ kind: 'first' | 'last' } | { kind: 'nth' | 'nth-last'; a: number; b: number }>;
}

interface Selector {
  /** Compounds left to right, with the combinator before each (the first has none). */
  parts: Array<{ combinator: '+' | '~' | null; compound: Compound }>;
  specificity: number;
}

interface Rule {
  selectors: Selector[];
  declarations: Map<string, string>;
  order: number;
}

export class StylesheetError extends Error {
  override name = 'StylesheetError';
}

const MAX_STYLESHEET = 20_000;

const SUPPORTED_PROPERTIES = new Set([
  'width',
  'height',
  'min-width',
  'min-height',
  'max-width',
  'max-height',
  'left',
  'right',
  'top',
  'bottom',
  'margin',
  'margin-left',
  'margin-right',
  'margin-top',
  'margin-bottom',
  'z-index',
  'position',
  'display',
  'float',
  'object-fit',
  'overflow',
  'clear',
]);

/** Parses a stylesheet (css-tree) into rules; throws StylesheetError on what this composer cannot honour. */
export function parseStylesheet(css: string): Rule[] {
  if (css.length > MAX_STYLESHEET) throw new StylesheetError(`stylesheet is longer than ${MAX_STYLESHEET} characters`);
  checkBlocksClosed(css);
  const errors: string[] = [];
  const sheet = parse(css, {
    parseValue: false, // values are read as text below; only the few supported properties matter
    onParseError: (err) => errors.push(err.message),
  }) as StyleSheet;
  if (errors.length > 0) throw new StylesheetError(errors[0]!);
  const rules: Rule[] = [];
  for (const node of sheet.children) {
    if (node.type === 'Atrule') throw new StylesheetError(`at-rules are not supported: "@${node.name}"`);
    if (node.type !== 'Rule' || node.prelude.type !== 'SelectorList') throw new StylesheetError(`unexpected text: "${generate(node).slice(0, 40)}"`);
    const selectors = node.prelude.children.toArray().map((selector) => toSelector(selector as CssSelector));
    if (selectors.length === 0) throw new StylesheetError('a rule has no selector');
    const declarations = new Map<string, string>();
    for (const decl of node.block.children) {
      if (decl.type !== 'Declaration') throw new StylesheetError(`bad declaration: "${generate(decl).slice(0, 40)}"`);
      const name = decl.property.toLowerCase();
      if (!SUPPORTED_PROPERTIES.has(name)) continue;
      const value = generate(decl.value).trim().toLowerCase();
      if (name === 'margin') {
        const parts = value.split(/\s+/);
        const t = parts[0]!;
        const r = parts[1] ?? t;
        const b = parts[2] ?? t;
        const l = parts[3] ?? r;
        declarations.set('margin-top', t);
        declarations.set('margin-right', r);
        declarations.set('margin-bottom', b);
        declarations.set('margin-left', l);
      } else declarations.set(name, value);
    }
    rules.push({ selectors, declarations, order: rules.length });
  }
  return rules;
}

/** css-tree, as CSS itself, closes a block left open at the end; a layout with one is a mistake. */
function checkBlocksClosed(css: string): void {
  let depth = 0;
  tokenize(css, (type) => {
    if (type === tokenTypes.LeftCurlyBracket) depth++;
    else if (type === tokenTypes.RightCurlyBracket) depth = Math.max(0, depth - 1);
  });
  if (depth > 0) throw new StylesheetError('missing "}"');
}

function toSelector(selector: CssSelector): Selector {
  const text = generate(selector);
  const parts: Selector['parts'] = [];
  let combinator: '+' | '~' | null = null;
  let compound: Compound | null = null;
  let specificity = 0;
  const unsupported = `unsupported selector "${text}": ids, attributes, *, child combinators and pseudo-elements are not supported`;
  const close = () => {
    if (!compound) throw new StylesheetError(`bad selector "${text}"`);
    specificity += compound.classes.length * 100 + compound.pseudos.length * 100 + (compound.type ? 1 : 0);
    parts.push({ combinator, compound });
    compound = null;
    combinator = null;
  };
  for (const node of selector.children) {
    if (node.type === 'Combinator') {
      if (node.name === ' ') throw new StylesheetError(`unsupported selector "${text}": descendant selectors are not supported`);
      if (node.name !== '+' && node.name !== '~') throw new StylesheetError(unsupported);
      close();
      combinator = node.name;
      continue;
    }
    compound ??= { type: null, classes: [], pseudos: [] };
    if (node.type === 'TypeSelector') {
      const name = node.name.toLowerCase();
      if (name === '*') throw new StylesheetError(unsupported);
      if (name !== 'stream' && name !== 'archive' && name !== 'broadcast') throw new StylesheetError(`unsupported selector "${text}": only "stream" elements exist`);
      compound.type = name === 'stream' ? 'stream' : 'archive';
    } else if (node.type === 'ClassSelector') compound.classes.push(node.name);
    else if (node.type === 'PseudoClassSelector') compound.pseudos.push(toPseudo(node, text));
    else throw new StylesheetError(unsupported);
  }
  close();
  return { parts, specificity };
}

function toPseudo(node: PseudoClassSelector, text: string): Compound['pseudos'][number] {
  const name = node.name.toLowerCase();
  if (name === 'first-child' && !node.children) return { kind: 'first' };
  if (name === 'last-child' && !node.children) return { kind: 'last' };
  const nth = node.children?.first;
  if ((name !== 'nth-child' && name !== 'nth-last-child') || nth?.type !== 'Nth' || nth.selector) throw new StylesheetError(`unsupported pseudo-class ":${name}"`);
  const kind = name === 'nth-child' ? 'nth' : 'nth-last';
  if (nth.nth.type === 'Identifier') {
    const keyword = nth.nth.name.toLowerCase();
    if (keyword !== 'odd' && keyword !== 'even') throw new StylesheetError(`bad :nth-child argument in "${text}"`);
    return { kind, a: 2, b: keyword === 'odd' ? 1 : 0 };
  }
  return { kind, a: Number(nth.nth.a ?? 0), b: Number(nth.nth.b ?? 0) };
}

function nthMatches(a: number, b: number, position: number): boolean {
  if (a === 0) return position === b;
  const n = (position - b) / a;
  return Number.isInteger(n) && n >= 0;
}

function compoundMatches(c: Compound, classes: string[][], index: number): boolean {
  if (c.type === 'archive') return false;
  const count = classes.length;
  for (const cls of c.classes) if (!classes[index]!.includes(cls)) return false;
  for (const p of c.pseudos) {
    if (p.kind === 'first' && index !== 0) return false;
    if (p.kind === 'last' && index !== count - 1) return false;
    if (p.kind === 'nth' && !nthMatches(p.a, p.b, index + 1)) return false;
    if (p.kind === 'nth-last' && !nthMatches(p.a, p.b, count - index)) return false;
  }
  return true;
}

/** Whether `selector` matches the stream at `index` (right to left through sibling combinators). */
function matches(selector: Selector, classes: string[][], index: number, part = selector.parts.length - 1): boolean {
  const { combinator, compound } = selector.parts[part]!;
  if (!compoundMatches(compound, classes, index)) return false;
  if (part === 0) return true;
  if (combinator === '+') return index > 0 && matches(selector, classes, index - 1, part - 1);
  for (let j = index - 1; j >= 0; j--) if (matches(selector, classes, j, part - 1)) return true;
  return false;
}

/** The computed style of the stream at `index`: matching rules by specificity, then source order. */
function computed(rules: Rule[], classes: string[][], index: number): Map<string, string> {
  const applied: Array<{ specificity: number; order: number; declarations: Map<string, string> }> = [];
  for (const rule of rules) {
    let best = -1;
    for (const selector of rule.selectors) if (selector.specificity > best && matches(selector, classes, index)) best = selector.specificity;
    if (best >= 0) applied.push({ specificity: best, order: rule.order, declarations: rule.declarations });
  }
  applied.sort((x, y) => x.specificity - y.specificity || x.order - y.order);
  const style = new Map<string, string>();
  for (const a of applied) for (const [k, v] of a.declarations) style.set(k, v);
  return style;
}

/** A length in px, or a percentage of `base`; null for auto/unset/unparseable. */
function length(value: string | undefined, base: number): number | null {
  if (value === undefined || value === 'auto' || value === '') return null;
  const m = /^(-?\d*\.?\d+)(px|%)?$/.exec(value);
  if (!m) return null;
  const n = Number(m[1]);
  return m[2] === '%' ? (n * base) / 100 : n;
}

/** Lays the streams (their class lists, in priority order) out on a `width`×`height` canvas. */
export function layoutWithStylesheet(rules: Rule[], classes: string[][], width: number, height: number): CssBox[] {
  const boxes: CssBox[] = [];
  // Normal flow with floats, kept simple: left floats fill shelves left to right, right floats
  // right to left; `clear` starts below the floats it clears; blocks stack below everything.
  let shelfY = 0;
  let shelfHeight = 0;
  let leftX = 0;
  let rightX = width;
  let blockY = 0;
  for (let index = 0; index < classes.length; index++) {
    const style = computed(rules, classes, index);
    if (style.get('display') === 'none') continue;
    const position = style.get('position') ?? 'static';
    const mt = length(style.get('margin-top'), width) ?? 0;
    const mb = length(style.get('margin-bottom'), width) ?? 0;
    const ml = length(style.get('margin-left'), width) ?? 0;
    const mr = length(style.get('margin-right'), width) ?? 0;
    const left = length(style.get('left'), width);
    const right = length(style.get('right'), width);
    const top = length(style.get('top'), height);
    const bottom = length(style.get('bottom'), height);
    let w = length(style.get('width'), width);
    let h = length(style.get('height'), height);
    if (w === null) w = position === 'absolute' && left !== null && right !== null ? width - left - right - ml - mr : width;
    if (h === null) h = position === 'absolute' && top !== null && bottom !== null ? height - top - bottom - mt - mb : height;
    w = clamp(w, length(style.get('min-width'), width), length(style.get('max-width'), width));
    h = clamp(h, length(style.get('min-height'), height), length(style.get('max-height'), height));
    let x: number;
    let y: number;
    const float = style.get('float') ?? 'none';
    const clear = style.get('clear') ?? 'none';
    if (position === 'absolute') {
      x = left !== null ? left + ml : right !== null ? width - right - mr - w : ml;
      y = top !== null ? top + mt : bottom !== null ? height - bottom - mb - h : mt;
    } else if (float === 'left' || float === 'right') {
      if (clear === 'left' || clear === 'right' || clear === 'both') {
        shelfY += shelfHeight;
        shelfHeight = 0;
        leftX = 0;
        rightX = width;
      }
      const outerW = w + ml + mr;
      if (rightX - leftX < outerW && (leftX > 0 || rightX < width)) {
        shelfY += shelfHeight;
        shelfHeight = 0;
        leftX = 0;
        rightX = width;
      }
      if (float === 'left') {
        x = leftX + ml;
        leftX += outerW;
      } else {
        x = rightX - mr - w;
        rightX -= outerW;
      }
      y = shelfY + mt;
      shelfHeight = Math.max(shelfHeight, h + mt + mb);
      blockY = Math.max(blockY, shelfY + shelfHeight);
    } else {
      x = ml;
      y = Math.max(blockY, shelfY + shelfHeight) + mt;
      blockY = y + h + mb;
    }
    if (position === 'relative') {
      x += left ?? (right !== null ? -right : 0);
      y += top ?? (bottom !== null ? -bottom : 0);
    }
    const zValue = Number(style.get('z-index'));
    boxes.push({ index, x, y, width: w, height: h, z: Number.isFinite(zValue) ? zValue : 0, fit: style.get('object-fit') === 'cover' ? 'cover' : 'contain' });
  }
  return boxes;
}

function clamp(v: number, min: number | null, max: number | null): number {
  let out = v;
  if (max !== null) out = Math.min(out, max);
  if (min !== null) out = Math.max(out, min);
  return out;
}
