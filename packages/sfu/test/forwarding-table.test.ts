// The router's producer → consumers map (forwarding-table.ts) on crafted packets, without a
// network: real Producers and Consumers (which know each other only through ProducerSource and
// ConsumerSink) with recording sinks. A packet reaches every consumer of its producer and only
// those; a consumer added or closed while a packet is being fanned out; producer pause/resume and
// close reaching the consumers through the table; the layer demand the table reports; a foreign
// producer refused. (Through real transports: forwarding.test.ts, lifecycle.test.ts, pipe-transport.test.ts.)

import { readFileSync } from 'node:fs';
import { RtpHeader, RtpPacket } from 'werift';
import { describe, expect, it } from 'vitest';
import type { OutgoingHeader } from '../src/consumer.js';
import { Consumer } from '../src/consumer.js';
import { FanOut, ForwardingTable, type ConsumerSink } from '../src/forwarding-table.js';
import { Producer } from '../src/producer.js';
import type { RtpView } from '../src/rtp-view.js';
import { testVideoProducer, viewOf, vp8Payload } from './helpers.js';

function videoProducer(id: string, plis: number[] = [], rids?: string[]): Producer {
  return new Producer({
    id,
    kind: 'video',
    codec: { name: 'VP8', mimeType: 'video/VP8', payloadType: 96, clockRate: 90000 },
    ssrc: rids ? 0 : 0x5000,
    ...(rids ? { rids } : {}),
    streamId: 's',
    extensionUris: [],
    link: { sendPli: (ssrc) => void plis.push(ssrc), receiveStats: () => undefined, nackCount: () => 0 },
  });
}

let inSeq = 1000;
/** One VP8 frame of one packet from the publisher (SSRC 0x5000 + layer). */
function packet(keyFrame: boolean, layer = 0): RtpView {
  const seq = inSeq++;
  return viewOf(new RtpPacket(new RtpHeader({ payloadType: 96, sequenceNumber: seq & 0xffff, timestamp: (seq * 3000) >>> 0, ssrc: 0x5000 + layer, marker: true }), vp8Payload(keyFrame, 320 << layer, 180 << layer)));
}

interface Recorder {
  c: Consumer;
  /** Output sequence numbers, in order. */
  seqs: number[];
  events: string[];
  /** Runs on each send (to add or close consumers mid fan-out). */
  onSend?: () => void;
}

function consumer(table: ForwardingTable, producer: Producer, id: string): Recorder {
  const r: Recorder = { c: new Consumer({ id, producer, ssrc: 0x9000 + id.charCodeAt(0) }), seqs: [], events: [] };
  r.c.setNegotiated({ payloadType: 96, mid: id, extensionIds: new Map() });
  for (const event of ['producerPause', 'producerResume', 'producerClose', 'pause', 'resume', 'close'] as const) r.c.on(event, () => r.events.push(event));
  table.addConsumer(producer, r.c);
  r.c.connect({
    sendRtp: (_payload: Buffer, header: OutgoingHeader) => {
      r.seqs.push(header.sequenceNumber);
      r.onSend?.();
    },
  });
  return r;
}

const continuous = (seqs: number[]) => seqs.every((s, i) => i === 0 || s === ((seqs[i - 1]! + 1) & 0xffff));

describe('ForwardingTable', () => {
  it('hands each packet of a producer to its consumers only, from one fan-out array that changes only when consumers do', () => {
    const table = new ForwardingTable();
    const p1 = videoProducer('p1');
    const p2 = videoProducer('p2');
    const fanOut = table.addProducer(p1);
    table.addProducer(p2);
    expect(table.addProducer(p1)).toBe(fanOut); // idempotent for the same producer
    expect(table.producerCount).toBe(2);
    const a = consumer(table, p1, 'a');
    const b = consumer(table, p1, 'b');
    const c = consumer(table, p2, 'c');
    expect(table.consumersOf('p1')).toEqual([a.c, b.c]);
    expect(p1.getStats().consumers).toBe(2);
    expect(p1.dump()['consumerIds']).toEqual(['a', 'b']);

    const sinks = fanOut.sinks;
    p1.receive(packet(true));
    for (let i = 0; i < 9; i++) p1.receive(packet(false));
    expect(fanOut.sinks).toBe(sinks); // no copy per packet
    expect(a.seqs).toHaveLength(10);
    expect(b.seqs).toHaveLength(10);
    expect(c.seqs).toHaveLength(0); // another producer's consumer
    expect(continuous(a.seqs) && continuous(b.seqs)).toBe(true);
    // Each consumer rewrote on its own (own random sequence start): two independent series.
    expect(a.c.getStats().packetsSent).toBe(10);
    expect(b.c.getStats().packetsSent).toBe(10);
  });

  it('a consumer added during a fan-out gets the next packet, not the current one; one closed during it gets nothing more', () => {
    const table = new ForwardingTable();
    const producer = videoProducer('p');
    table.addProducer(producer);
    const a = consumer(table, producer, 'a');
    const b = consumer(table, producer, 'b');
    producer.receive(packet(true));
    expect([a.seqs.length, b.seqs.length]).toEqual([1, 1]);

    // a's send adds c to the fan-out (as a subscribe handled inside a packet's listeners could).
    let c: Recorder | undefined;
    a.onSend = () => {
      a.onSend = undefined;
      c = consumer(table, producer, 'c');
    };
    producer.receive(packet(false));
    expect(c).toBeDefined();
    expect(c!.seqs).toHaveLength(0); // not this packet (and it waits for a keyframe anyway)
    expect(table.consumersOf('p')).toEqual([a.c, b.c, c!.c]);
    producer.receive(packet(true));
    expect(c!.seqs).toHaveLength(1);
    expect([a.seqs.length, b.seqs.length]).toEqual([3, 3]);

    // a's send closes b, which comes after a in the array being walked: b sends nothing more.
    a.onSend = () => {
      a.onSend = undefined;
      b.c.close();
    };
    producer.receive(packet(false));
    expect(b.seqs).toHaveLength(3);
    expect(b.events).toEqual(['close']);
    expect(table.consumersOf('p')).toEqual([a.c, c!.c]);
    expect([a.seqs.length, c!.seqs.length]).toEqual([4, 2]);
    // A consumer closing itself while it sends.
    c!.onSend = () => c!.c.close();
    producer.receive(packet(false));
    expect(table.consumersOf('p')).toEqual([a.c]);
    producer.receive(packet(false));
    expect([a.seqs.length, c!.seqs.length]).toEqual([6, 3]);
    expect(continuous(a.seqs)).toBe(true);
    expect(producer.getStats().consumers).toBe(1);
  });

  it('producer close closes its consumers through the table (producerClose, then close) and leaves it', () => {
    const table = new ForwardingTable();
    const producer = videoProducer('p');
    const other = videoProducer('q');
    table.addProducer(producer);
    table.addProducer(other);
    const a = consumer(table, producer, 'a');
    const b = consumer(table, producer, 'b');
    const keep = consumer(table, other, 'k');
    producer.receive(packet(true));
    const closeOrder: string[] = [];
    producer.on('close', () => closeOrder.push(`producer close, consumers closed: ${a.c.closed && b.c.closed}`));
    producer.close();
    expect(a.events).toEqual(['producerClose', 'close']);
    expect(b.events).toEqual(['producerClose', 'close']);
    expect(closeOrder).toEqual(['producer close, consumers closed: true']);
    expect(table.has(producer)).toBe(false);
    expect(table.consumersOf('p')).toEqual([]);
    expect(table.producerCount).toBe(1);
    expect(keep.c.closed).toBe(false);
    // Nothing more flows, and no consumer can join a closed producer.
    producer.receive(packet(true));
    expect([a.seqs.length, b.seqs.length]).toEqual([1, 1]);
    expect(() => table.addConsumer(producer, new Consumer({ id: 'late', producer, ssrc: 1 }))).toThrow(/not forwarded here/);
    // A new producer with the same id (a republish) gets a fan-out of its own.
    const again = videoProducer('p');
    table.addProducer(again);
    const d = consumer(table, again, 'd');
    again.receive(packet(true));
    expect(d.seqs).toHaveLength(1);
    expect([a.seqs.length, b.seqs.length]).toEqual([1, 1]);
  });

  it('producer pause stops every consumer and resume restarts them from a keyframe, the sequence continuing; a consumer pause stops only that one', () => {
    const table = new ForwardingTable();
    const plis: number[] = [];
    const producer = videoProducer('p', plis);
    table.addProducer(producer);
    const a = consumer(table, producer, 'a');
    const b = consumer(table, producer, 'b');
    producer.receive(packet(true));
    producer.receive(packet(false));
    producer.pause();
    expect(a.events).toEqual(['producerPause']);
    expect(b.events).toEqual(['producerPause']);
    expect(a.c.producerPaused && b.c.producerPaused).toBe(true);
    for (let i = 0; i < 3; i++) producer.receive(packet(i === 0));
    expect([a.seqs.length, b.seqs.length]).toEqual([2, 2]);

    producer.resume();
    expect(a.events).toEqual(['producerPause', 'producerResume']);
    expect(a.c.producerPaused).toBe(false);
    expect(a.c.dump()['waitingForKeyFrame']).toBe(true); // the resumed stream starts from a keyframe (asked for, throttled)
    expect(plis.length).toBeGreaterThan(0);
    producer.receive(packet(false)); // not a keyframe: waited out
    expect([a.seqs.length, b.seqs.length]).toEqual([2, 2]);
    producer.receive(packet(true));
    producer.receive(packet(false));
    expect([a.seqs.length, b.seqs.length]).toEqual([4, 4]);
    expect(continuous(a.seqs) && continuous(b.seqs)).toBe(true);

    // Consumer pause: that consumer only.
    a.c.pause();
    producer.receive(packet(true));
    expect([a.seqs.length, b.seqs.length]).toEqual([4, 5]);
    expect(table.consumersOf('p')).toEqual([a.c, b.c]); // paused, still in the fan-out
  });

  it('the layer demand of a simulcast producer comes from the consumers in its fan-out, and leaves with them', () => {
    const table = new ForwardingTable();
    const producer = videoProducer('p', [], ['q', 'h', 'f']);
    table.addProducer(producer);
    const changes: boolean[][] = [];
    producer.on('layers', (active) => changes.push([...active]));
    const frame = () => {
      for (let layer = 0; layer < 3; layer++) producer.receive(packet(true, layer), layer);
    };
    let now = performance.now() + 1;
    /** Two producer samples LAYER_PAUSE_DELAY_MS apart (what the transport's timer does): unneeded layers go off. */
    const settle = () => {
      producer.sample((now += 10));
      producer.sample((now += 2500));
    };
    const low = consumer(table, producer, 'a');
    frame(); // sizes known; it starts on a layer's keyframe
    low.c.setPreferredResolution({ width: 100, height: 100 });
    frame();
    expect([low.c.currentLayer, low.c.targetLayer]).toEqual([0, 0]);
    settle();
    expect(changes.at(-1)).toEqual([true, false, false]);
    expect(producer.layers.map((l) => l.active)).toEqual([true, false, false]);

    // A consumer that wants the top layer turns it on at once (on joining the fan-out).
    const top = consumer(table, producer, 'b');
    expect(changes.at(-1)).toEqual([true, false, true]);
    frame();
    expect([top.c.currentLayer, low.c.currentLayer]).toEqual([2, 0]);
    // Closed, it leaves the fan-out and its demand goes with it.
    top.c.close();
    expect(table.consumersOf('p')).toEqual([low.c]);
    settle();
    expect(changes.at(-1)).toEqual([true, false, false]);

    // A paused consumer needs nothing (layer 0 always runs); resumed with a wish for the middle layer, that layer comes on at once.
    low.c.setPreferredResolution({ width: 640, height: 360 });
    expect(changes.at(-1)).toEqual([true, true, false]);
    low.c.pause();
    settle();
    expect(changes.at(-1)).toEqual([true, false, false]);
    low.c.resume();
    expect(changes.at(-1)).toEqual([true, true, false]);
  });

  it('refuses a producer it does not forward, a second producer with the same id, and a closed producer', () => {
    const table = new ForwardingTable();
    const mine = videoProducer('p');
    table.addProducer(mine);
    const foreign = testVideoProducer({ id: 'p', ssrc: 0x5000 }); // forwarded by another table
    expect(table.has(foreign)).toBe(false);
    expect(() => table.addConsumer(foreign, new Consumer({ id: 'x', producer: foreign, ssrc: 1 }))).toThrow(/not forwarded here/);
    expect(() => table.addProducer(foreign)).toThrow(/exists/);
    const closed = videoProducer('closed');
    closed.close();
    expect(() => table.addProducer(closed)).toThrow(/closed/);
    // A closed consumer is not added.
    const gone = new Consumer({ id: 'gone', producer: mine, ssrc: 2 });
    gone.close();
    expect(() => table.addConsumer(mine, gone)).toThrow(/closed/);
    expect(table.consumersOf('p')).toEqual([]);
  });

  it('a FanOut walks plain sinks in order, and a sink closing during producerClosed does not skip the next one', () => {
    const calls: string[] = [];
    const closeListeners = new Map<string, () => void>();
    const sink = (id: string): ConsumerSink => ({
      id,
      paused: false,
      closed: false,
      qualityDisabled: false,
      currentLayer: 0,
      targetLayer: 0,
      forward: (p, keyFrame, layer) => void calls.push(`${id} ${p.sequenceNumber} ${keyFrame} ${layer}`),
      handleProducerPause: () => void calls.push(`${id} pause`),
      handleProducerResume: () => void calls.push(`${id} resume`),
      handleProducerClose: () => {
        calls.push(`${id} producerClose`);
        closeListeners.get(id)?.();
      },
      once: (_event: 'close', listener: () => void) => closeListeners.set(id, listener),
    });
    let closed = 0;
    const fanOut = new FanOut(videoProducer('p'), () => closed++);
    const [x, y] = [sink('x'), sink('y')];
    fanOut.add(x);
    fanOut.add(y);
    fanOut.add(x); // once only
    closeListeners.set('x', () => fanOut.remove(x));
    closeListeners.set('y', () => fanOut.remove(y));
    const view = packet(false);
    fanOut.forward(view, true, 2);
    fanOut.producerPaused();
    fanOut.producerResumed();
    fanOut.producerClosed();
    expect(calls).toEqual([
      `x ${view.sequenceNumber} true 2`,
      `y ${view.sequenceNumber} true 2`,
      'x pause',
      'y pause',
      'x resume',
      'y resume',
      'x producerClose',
      'y producerClose',
    ]);
    expect(fanOut.consumerCount).toBe(0);
    expect(closed).toBe(1);
  });

  it('Producer and Consumer do not import each other (not even a type): only the narrow interfaces of forwarding-table.ts', () => {
    const imports = (file: string) => [...readFileSync(new URL(`../src/${file}`, import.meta.url), 'utf8').matchAll(/^\s*(?:import|export)\b[^;]*?from '(\.\/[^']+)'/gms)].map((m) => m[1]);
    const producer = imports('producer.ts');
    const consumer = imports('consumer.ts');
    expect(producer).toContain('./forwarding-table.js');
    expect(consumer).toContain('./forwarding-table.js');
    expect(producer).not.toContain('./consumer.js');
    expect(consumer).not.toContain('./producer.js');
    expect(imports('forwarding-table.ts').filter((m) => m === './producer.js' || m === './consumer.js')).toEqual([]);
  });
});
