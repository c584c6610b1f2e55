<?php

// Experience Composer renders through this SDK against a real server whose headless Chromium opens
// a real page (the server's own /healthz, a page that loads): startRender answers "starting",
// getRender (POST /render/{id}, as OpenTok's PHP SDK sends it) reaches "started" with the stream
// id, the stream is in the session under the asked name, listRenders lists it, stopRender stops it
// and the stream is gone. Refusals come back as the SDK's exceptions.

declare(strict_types=1);

namespace Colloquy\Tests\Integration;

use Colloquy\Exception\InvalidArgumentException;
use Colloquy\Exception\NotFoundException;
use Colloquy\Exception\RequestException;
use Colloquy\MediaMode;
use Colloquy\Render;
use Colloquy\Role;
use Colloquy\Tests\Support\TestCase;

final class RendersTest extends TestCase
{
    public function testRendersAPageIntoTheSessionAndStopsIt(): void
    {
        $sdk = self::sdk();
        $sessionId = $sdk->createSession(['mediaMode' => MediaMode::ROUTED])->getSessionId();
        $render = $sdk->startRender($sessionId, $sdk->generateToken($sessionId), self::server()->url . '/healthz', 120, '640x480', null, ['name' => 'PHP render']);
        self::assertInstanceOf(Render::class, $render);
        self::assertSame(['starting', $sessionId, '640x480'], [$render->status, $render->sessionId, $render->resolution]);

        $deadline = microtime(true) + 60;
        do {
            $got = $sdk->getRender($render->id);
            self::assertNotSame('failed', $got->status, 'render failed: ' . $got->reason);
            if ($got->status === 'started') {
                break;
            }
            usleep(100_000);
        } while (microtime(true) < $deadline);
        self::assertSame('started', $got->status);
        self::assertIsString($got->streamId);
        self::assertSame('PHP render', $sdk->getStream($sessionId, $got->streamId)->name);

        $list = $sdk->listRenders(0, 1000);
        self::assertContains($render->id, array_map(static fn (Render $r) => $r->id, $list['items']));
        self::assertGreaterThanOrEqual(1, $list['count']);

        $render->stop();
        self::assertSame(['stopped', 'Stop requested'], [$render->status, $render->reason]);
        self::assertNotContains($got->streamId, array_map(static fn ($s) => $s->id, $sdk->listStreams($sessionId)->getItems()));
    }

    public function testRefusals(): void
    {
        $sdk = self::sdk();
        $sessionId = $sdk->createSession(['mediaMode' => MediaMode::ROUTED])->getSessionId();
        try {
            $sdk->getRender('0123456789abcdef0123456789abcdef');
            self::fail('an unknown render was found');
        } catch (NotFoundException) {
        }
        try {
            $sdk->startRender($sessionId, $sdk->generateToken($sessionId, ['role' => Role::SUBSCRIBER]), 'https://example.test/');
            self::fail('a subscriber token was accepted');
        } catch (RequestException $e) {
            self::assertStringContainsString('role publisher or moderator', $e->getMessage());
        }
        $this->expectException(InvalidArgumentException::class);
        $sdk->startRender($sessionId, $sdk->generateToken($sessionId), 'https://example.test/', 59);
    }
}
