// Media settings from the environment, and the server owning the engine's lifetime.

import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { MediaEngine, opusCodec } from '@colloquy/sfu';
import { pino } from 'pino';
import { startTestServer } from '../helpers.js';

describe('media configuration', () => {
  it('defaults to loopback, one UDP port (7882) for every peer connection and a 2.5 Mbps cap', () => {
    const c = loadConfig({});
    expect(c.announcedIps).toEqual(['127.0.0.1']);
    expect(c.rtcListenIp).toBeNull();
    expect(c.rtcPort).toBe(7882);
    expect(c.maxBitrate).toBe(2_500_000);
  });

  it('COLLOQUY_RTC_PORT moves the one UDP port; COLLOQUY_RTC_MIN_PORT/MAX_PORT (either) choose a port per peer connection', () => {
    expect(loadConfig({ COLLOQUY_RTC_PORT: '9000' }).rtcPort).toBe(9000);
    expect(loadConfig({ COLLOQUY_RTC_PORT: '0' }).rtcPort).toBe(0);
    expect(loadConfig({ COLLOQUY_RTC_MIN_PORT: '40000' })).toMatchObject({ rtcPort: null, rtcPortRange: [40000, 49999] });
    expect(loadConfig({ COLLOQUY_RTC_MAX_PORT: '45000' })).toMatchObject({ rtcPort: null, rtcPortRange: [40000, 45000] });
  });

  it('COLLOQUY_WORKERS: media threads, the cores by default; COLLOQUY_WORKERS_FROM: peer connections on the main thread before subscribers spread, 64 by default', () => {
    expect(loadConfig({})).toMatchObject({ mediaThreads: availableParallelism(), mediaWorkersFrom: 64 });
    expect(loadConfig({ COLLOQUY_WORKERS: '1', COLLOQUY_WORKERS_FROM: '0' })).toMatchObject({ mediaThreads: 1, mediaWorkersFrom: 0 });
    expect(() => loadConfig({ COLLOQUY_WORKERS: '0' })).toThrow(/COLLOQUY_WORKERS/);
    expect(() => loadConfig({ COLLOQUY_WORKERS: 'all' })).toThrow(/COLLOQUY_WORKERS/);
    expect(() => loadConfig({ COLLOQUY_WORKERS_FROM: '-1' })).toThrow(/COLLOQUY_WORKERS_FROM/);
  });

  it('COLLOQUY_UPLINK_ESTIMATION: transport-cc by default, remb or remb-delay on request, anything else refused', () => {
    expect(loadConfig({}).uplinkEstimation).toBe('transport-cc');
    expect(loadConfig({ COLLOQUY_UPLINK_ESTIMATION: 'transport-cc' }).uplinkEstimation).toBe('transport-cc');
    expect(loadConfig({ COLLOQUY_UPLINK_ESTIMATION: 'remb' }).uplinkEstimation).toBe('remb');
    expect(loadConfig({ COLLOQUY_UPLINK_ESTIMATION: 'remb-delay' }).uplinkEstimation).toBe('remb-delay');
    expect(() => loadConfig({ COLLOQUY_UPLINK_ESTIMATION: 'gcc' })).toThrow(/COLLOQUY_UPLINK_ESTIMATION must be remb, remb-delay or transport-cc/);
  });

  it('COLLOQUY_VIDEO_CODEC: VP8 by default, H264 on request (any case), anything else refused; the engine makes its routers with it', async () => {
    expect(loadConfig({}).videoCodec).toBe('VP8');
    expect(loadConfig({ COLLOQUY_VIDEO_CODEC: 'H264' }).videoCodec).toBe('H264');
    expect(loadConfig({ COLLOQUY_VIDEO_CODEC: 'h264' }).videoCodec).toBe('H264');
    expect(loadConfig({ COLLOQUY_VIDEO_CODEC: 'vp8' }).videoCodec).toBe('VP8');
    expect(() => loadConfig({ COLLOQUY_VIDEO_CODEC: 'VP9' })).toThrow(/COLLOQUY_VIDEO_CODEC must be VP8 or H264/);
    const engine = new MediaEngine({ videoCodec: 'H264', logger: pino({ level: 'silent' }) });
    try {
      expect(engine.createRouter({ id: 'h264-session' }).videoCodec).toBe('H264');
      expect(engine.createRouter({ id: 'vp8-pipe', videoCodec: 'VP8' }).videoCodec).toBe('VP8');
      expect(() => new MediaEngine({ videoCodec: 'VP9' as 'VP8', logger: pino({ level: 'silent' }) })).toThrow(/video codec must be VP8 or H264/);
    } finally {
      engine.close();
    }
  });

  it('COLLOQUY_RTC_TCP_PORT selects one TCP port for ICE-TCP (and turns it on); with one UDP port, COLLOQUY_RTC_TCP=on means one TCP port too', () => {
    expect(loadConfig({})).toMatchObject({ rtcTcp: false, rtcTcpPort: null });
    expect(loadConfig({ COLLOQUY_RTC_TCP: 'on' })).toMatchObject({ rtcPort: 7882, rtcTcp: true, rtcTcpPort: 7881 });
    const range = { COLLOQUY_RTC_MIN_PORT: '40000', COLLOQUY_RTC_MAX_PORT: '49999' };
    expect(loadConfig({ ...range, COLLOQUY_RTC_TCP: 'on' })).toMatchObject({ rtcPort: null, rtcTcp: true, rtcTcpPort: null }); // a port of the range per peer connection
    expect(loadConfig({ COLLOQUY_RTC_TCP_PORT: '7881' })).toMatchObject({ rtcTcp: true, rtcTcpPort: 7881 });
    expect(loadConfig({ COLLOQUY_RTC_PORT: '7882', COLLOQUY_RTC_TCP: 'on' })).toMatchObject({ rtcPort: 7882, rtcTcp: true, rtcTcpPort: 7881 });
    expect(loadConfig({ COLLOQUY_RTC_PORT: '7882', COLLOQUY_RTC_TCP_PORT: '443' })).toMatchObject({ rtcTcpPort: 443 });
  });

  it('reads announced addresses, listen address, port range and cap', () => {
    const c = loadConfig({
      COLLOQUY_ANNOUNCED_IP: '203.0.113.7, 198.51.100.2',
      COLLOQUY_RTC_LISTEN_IP: '0.0.0.0',
      COLLOQUY_RTC_MIN_PORT: '50000',
      COLLOQUY_RTC_MAX_PORT: '50100',
      COLLOQUY_MAX_BITRATE: '1000000',
    });
    expect(c.announcedIps).toEqual(['203.0.113.7', '198.51.100.2']);
    expect(c.rtcListenIp).toBe('0.0.0.0');
    expect(c.rtcPortRange).toEqual([50000, 50100]);
    expect(c.rtcPort).toBeNull();
    expect(c.maxBitrate).toBe(1_000_000);
  });

  it.each([
    [{ COLLOQUY_ANNOUNCED_IP: 'example.com' }, /COLLOQUY_ANNOUNCED_IP/],
    [{ COLLOQUY_ANNOUNCED_IP: '::1' }, /COLLOQUY_ANNOUNCED_IP/],
    [{ COLLOQUY_RTC_LISTEN_IP: 'eth0' }, /COLLOQUY_RTC_LISTEN_IP/],
    [{ COLLOQUY_RTC_MIN_PORT: '80' }, /COLLOQUY_RTC_MIN_PORT/],
    [{ COLLOQUY_RTC_MIN_PORT: '50000', COLLOQUY_RTC_MAX_PORT: '50000' }, /below/],
    [{ COLLOQUY_MAX_BITRATE: '5000' }, /COLLOQUY_MAX_BITRATE/],
    [{ COLLOQUY_RTC_PORT: '70000' }, /COLLOQUY_RTC_PORT/],
    [{ COLLOQUY_RTC_PORT: '7882', COLLOQUY_RTC_MIN_PORT: '41000' }, /not both/],
    [{ COLLOQUY_RTC_TCP_PORT: '7881', COLLOQUY_RTC_TCP: 'off' }, /COLLOQUY_RTC_TCP_PORT turns ICE-TCP on/],
    [{ COLLOQUY_RTC_TCP_PORT: '-1' }, /COLLOQUY_RTC_TCP_PORT/],
  ])('refuses %o', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('with two media threads the main thread\'s engine takes the first half of the port range (the worker, started when needed, the second)', async () => {
    const t = await startTestServer({ COLLOQUY_WORKERS: '2', COLLOQUY_RTC_MIN_PORT: '44000', COLLOQUY_RTC_MAX_PORT: '45999' });
    try {
      expect(t.server.media.ice.portRange).toEqual([44000, 44999]);
      expect(t.server.mediaWorkers.stats()).toMatchObject({ threads: 2, spreadFrom: 64, workers: [{ name: 'worker-1', up: false }] });
    } finally {
      await t.close();
    }
  });

  it('the running server has a media engine configured from it, closed with the server', async () => {
    const t = await startTestServer({ COLLOQUY_RTC_MIN_PORT: '44000', COLLOQUY_RTC_MAX_PORT: '44099', COLLOQUY_MAX_BITRATE: '800000' });
    const { media } = t.server;
    expect(media.ice.portRange).toEqual([44000, 44099]);
    expect(media.ice.announcedIps).toEqual(['127.0.0.1']);
    const router = media.createRouter({ id: 'session-1' });
    expect(router.maxIncomingBitrate).toBe(800_000);
    const transport = router.createSubscriberTransport();
    await t.close();
    expect(media.closed).toBe(true);
    expect(router.closed).toBe(true);
    expect(transport.closed).toBe(true);
  });

  it('in one-port mode the server binds the port at start, and says which variable to change when it is taken', async () => {
    const t = await startTestServer({ COLLOQUY_RTC_PORT: '0' });
    const port = t.server.media.udpMux!.port;
    expect(port).toBeGreaterThan(0);
    const err = await startTestServer({ COLLOQUY_RTC_PORT: String(port) }).catch((e: unknown) => e);
    expect(String(err)).toMatch(new RegExp(`UDP port ${port} \\(media\\) is in use; set COLLOQUY_RTC_PORT`));
    await t.close();
    expect(t.server.media.udpMux!.stats().transports).toBe(0);
  });

  it('with one TCP port the server listens on it at start, and says which variable to change when it is taken', async () => {
    const t = await startTestServer({ COLLOQUY_RTC_TCP_PORT: '0' });
    const port = t.server.media.tcpMux!.port;
    expect(port).toBeGreaterThan(0);
    expect(t.server.media.dump()['tcpMux']).toMatchObject({ port, agents: 0, accepted: 0 });
    const err = await startTestServer({ COLLOQUY_RTC_TCP_PORT: String(port) }).catch((e: unknown) => e);
    expect(String(err)).toMatch(new RegExp(`TCP port ${port} \\(ICE-TCP media\\) is in use; set COLLOQUY_RTC_TCP_PORT`));
    await t.close();
  });
});

describe('Opus towards subscribers', () => {
  it("passes the publisher's stereo options on (enableStereo), and nothing else of its fmtp", () => {
    expect(opusCodec(111, 'minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1;maxaveragebitrate=128000;usedtx=1').parameters).toBe('minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1');
    expect(opusCodec(111, 'minptime=10;useinbandfec=1').parameters).toBe('minptime=10;useinbandfec=1');
    expect(opusCodec(111).parameters).toBe('minptime=10;useinbandfec=1');
  });
});
