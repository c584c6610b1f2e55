// Layout geometry: OpenTok's predefined layouts, screen-share layouts, prioritization rules, and
// custom stylesheets (including the stylesheets OpenTok documents as equivalent to its layouts).

import { describe, expect, it } from 'vitest';
import { computeLayout, prioritize, validateLayout, type LayoutStream } from '../../src/archiving/layout.js';
import { ColloquyError } from '../../src/errors.js';

const s = (id: string, extra: Partial<LayoutStream> = {}): LayoutStream => ({
  streamId: id,
  connectionId: `c-${id}`,
  videoType: 'camera',
  layoutClassList: [],
  addedAt: Number(id.replace(/\D/g, '') || 0),
  ...extra,
});
const geometry = (boxes: { streamId: string; x: number; y: number; width: number; height: number }[]) =>
  boxes.map(({ streamId, x, y, width, height }) => [streamId, x, y, width, height]);

describe('predefined layouts', () => {
  it('bestFit tiles 1, 2, 4, 5 streams (and stacks 2 in portrait)', () => {
    expect(geometry(computeLayout({ type: 'bestFit' }, [s('a1')], 640, 480))).toEqual([['a1', 0, 0, 640, 480]]);
    expect(geometry(computeLayout({ type: 'bestFit' }, [s('a1'), s('b2')], 640, 480))).toEqual([
      ['a1', 0, 0, 320, 480],
      ['b2', 320, 0, 320, 480],
    ]);
    expect(geometry(computeLayout({ type: 'bestFit' }, [s('a1'), s('b2')], 480, 640))).toEqual([
      ['a1', 0, 0, 480, 320],
      ['b2', 0, 320, 480, 320],
    ]);
    const four = computeLayout({ type: 'bestFit' }, ['a1', 'b2', 'c3', 'd4'].map((id) => s(id)), 1280, 720);
    expect(geometry(four)).toEqual([
      ['a1', 0, 0, 640, 360],
      ['b2', 640, 0, 640, 360],
      ['c3', 0, 360, 640, 360],
      ['d4', 640, 360, 640, 360],
    ]);
    const five = computeLayout({ type: 'bestFit' }, ['a1', 'b2', 'c3', 'd4', 'e5'].map((id) => s(id)), 1920, 1080);
    expect(five[4]).toMatchObject({ x: 640, y: 360, width: 640, height: 360 });
    const many = computeLayout({ type: 'bestFit' }, Array.from({ length: 20 }, (_, i) => s(`x${i}`)), 640, 480);
    expect(many).toHaveLength(16);
  });

  it('pip puts the "full" stream full-frame and the first other one in the corner, on top', () => {
    const boxes = computeLayout({ type: 'pip' }, [s('a1'), s('b2', { layoutClassList: ['full'] }), s('c3')], 640, 480);
    expect(geometry(boxes)).toEqual([
      ['b2', 0, 0, 640, 480],
      ['a1', 448, 48, 128, 96],
    ]);
    expect(boxes[1]!.z).toBeGreaterThan(boxes[0]!.z);
  });

  it('vertical and horizontal presentations give the focus stream 80 %', () => {
    const streams = [s('a1'), s('b2', { layoutClassList: ['focus'] }), s('c3')];
    expect(geometry(computeLayout({ type: 'verticalPresentation' }, streams, 640, 480))).toEqual([
      ['b2', 128, 0, 512, 480],
      ['a1', 0, 0, 128, 96],
      ['c3', 0, 96, 128, 96],
    ]);
    expect(geometry(computeLayout({ type: 'horizontalPresentation' }, streams, 1280, 720))).toEqual([
      ['b2', 0, 0, 1280, 576],
      ['a1', 0, 576, 256, 144],
      ['c3', 256, 576, 256, 144],
    ]);
  });

  it('focus shows only the focus stream', () => {
    expect(geometry(computeLayout({ type: 'focus' }, [s('a1'), s('b2', { layoutClassList: ['focus'] })], 640, 480))).toEqual([['b2', 0, 0, 640, 480]]);
  });

  it('screenshareType applies while a screen is shared, with the screen as focus', () => {
    const layout = validateLayout({ type: 'bestFit', screenshareType: 'horizontalPresentation' });
    const cams = [s('a1'), s('b2')];
    expect(computeLayout(layout, cams, 640, 480)).toHaveLength(2);
    const withScreen = prioritize([...cams, s('c3', { videoType: 'screen', connectionId: 'c-a1' })]);
    const boxes = computeLayout(layout, withScreen, 640, 480);
    expect(boxes[0]).toMatchObject({ streamId: 'c3', x: 0, y: 0, width: 640, height: 384 });
    const onlyScreens = computeLayout({ type: 'bestFit', screenshareType: 'bestFit' }, withScreen, 640, 480);
    expect(geometry(onlyScreens)).toEqual([['c3', 0, 0, 640, 480]]);
  });
});

describe('prioritization', () => {
  it('puts classed streams first, screens first within a tier, then join time', () => {
    const order = prioritize([
      s('a1'),
      s('b2', { layoutClassList: ['x'] }),
      s('c3', { videoType: 'screen', connectionId: 'c-d4' }),
      s('d4'),
      s('e5', { layoutClassList: ['y'], videoType: 'screen' }),
      s('f6', { connectionId: 'c-b2' }),
    ]).map((x) => x.streamId);
    expect(order).toEqual(['e5', 'b2', 'c3', 'd4', 'f6', 'a1']);
  });
});

describe('custom stylesheets', () => {
  const custom = (stylesheet: string) => validateLayout({ type: 'custom', stylesheet });

  it('positions absolutely by class, with z-index and object-fit', () => {
    const layout = custom(`
      stream.main { position: absolute; left: 0; top: 0; width: 100%; height: 100%; z-index: 100; }
      stream.lower-left { position: absolute; left: 10%; bottom: 10%; width: 20%; height: 20%; z-index: 200; object-fit: cover }`);
    const boxes = computeLayout(layout, [s('a1', { layoutClassList: ['lower-left'] }), s('b2', { layoutClassList: ['main'] })], 640, 480);
    expect(boxes.map((b) => [b.streamId, b.x, b.y, b.width, b.height, b.z, b.fit])).toEqual([
      ['a1', 64, 336, 128, 96, 200, 'cover'],
      ['b2', 0, 0, 640, 480, 100, 'contain'],
    ]);
  });

  it('renders the documented bestFit stylesheet like bestFit (sibling combinators, :nth-last-child, floats)', () => {
    const css = `stream { float: left; }
      stream:first-child:nth-last-child(1) { width: 100%; height: 100%; }
      stream:first-child:nth-last-child(2), stream:first-child:nth-last-child(2) ~ stream { width: 50%; height: 100%; }
      stream:first-child:nth-last-child(3), stream:first-child:nth-last-child(3) ~ stream,
      stream:first-child:nth-last-child(4), stream:first-child:nth-last-child(4) ~ stream { width: 50%; height: 50%; }`;
    for (const n of [1, 2, 4]) {
      const streams = Array.from({ length: n }, (_, i) => s(`s${i}`));
      expect(geometry(computeLayout(custom(css), streams, 640, 480))).toEqual(geometry(computeLayout({ type: 'bestFit' }, streams, 640, 480)));
    }
  });

  it('renders the documented horizontal and vertical presentation stylesheets', () => {
    const horizontal = `stream { float:left; margin-top: 60%; width: 20%; height: 20%; }
      stream.focus { position: absolute; top: 0; left: 0; margin-top: 0px; height: 80%; width: 100%; }`;
    const streams = [s('a1'), s('b2', { layoutClassList: ['focus'] }), s('c3')];
    expect(geometry(computeLayout(custom(horizontal), streams, 640, 480))).toEqual([
      ['a1', 0, 384, 128, 96],
      ['b2', 0, 0, 640, 384],
      ['c3', 128, 384, 128, 96],
    ]);
    const vertical = `stream { float: left; left: 0px; clear: left; width: 20%; height: 20%; }
      stream.focus { position: absolute; top: 0; left: 0; margin: 0px; left: 20%; height: 100%; width: 80%; }`;
    expect(geometry(computeLayout(custom(vertical), streams, 640, 480))).toEqual([
      ['a1', 0, 0, 128, 96],
      ['b2', 128, 0, 512, 480],
      ['c3', 0, 96, 128, 96],
    ]);
  });

  it('hides streams with display: none, supports :nth-child(odd) and +', () => {
    const css = `stream { position: absolute; width: 50%; height: 50%; } stream:nth-child(odd) { left: 0 } stream:nth-child(even) { left: 50% }
      stream + stream + stream { display: none }`;
    expect(geometry(computeLayout(custom(css), [s('a1'), s('b2'), s('c3')], 640, 480))).toEqual([
      ['a1', 0, 0, 320, 240],
      ['b2', 320, 0, 320, 240],
    ]);
  });

  it('refuses what it cannot honour, and invalid layouts, with 400', () => {
    const refuse = (input: object, message: RegExp) => {
      try {
        validateLayout(input);
        throw new Error('accepted');
      } catch (err) {
        expect(err).toBeInstanceOf(ColloquyError);
        expect((err as ColloquyError).kind).toBe('invalid');
        expect((err as Error).message).toMatch(message);
      }
    };
    refuse({ type: 'custom', stylesheet: 'archive stream { width: 10% }' }, /descendant/);
    refuse({ type: 'custom', stylesheet: 'stream > stream { width: 10% }' }, /child combinators/);
    refuse({ type: 'custom', stylesheet: '#x { width: 10% }' }, /ids/);
    refuse({ type: 'custom', stylesheet: 'stream:hover { width: 10% }' }, /pseudo-class/);
    refuse({ type: 'custom', stylesheet: 'stream { width: 10%' }, /missing/);
    refuse({ type: 'custom' }, /needs a stylesheet/);
    refuse({ type: 'grid' }, /Invalid layout type/);
    refuse({ type: 'pip', stylesheet: 'stream {}' }, /only allowed with the custom/);
    refuse({ type: 'pip', screenshareType: 'bestFit' }, /requires the layout type bestFit/);
    refuse({ type: 'bestFit', screenshareType: 'focus' }, /Invalid screenshareType/);
  });
});
