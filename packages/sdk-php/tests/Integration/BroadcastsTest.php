<?php

// Live streaming broadcast calls against the real server with nobody connected: OpenTok's answers
// (409 for an empty or relayed session, 400 for bad outputs, 404 for an unknown broadcast, an empty
// list), and the SDK's own checks before any request.

declare(strict_types=1);

namespace Colloquy\Tests\Integration;

use Colloquy\Exception\ApiException;
use Colloquy\Exception\ConflictException;
use Colloquy\Exception\InvalidArgumentException;
use Colloquy\Exception\NotFoundException;
use Colloquy\MediaMode;
use Colloquy\Tests\Support\TestCase;

final class BroadcastsTest extends TestCase
{
    private const UNKNOWN = '3c1e9f2a-0000-4000-8000-000000000000';

    public function testStartingABroadcastOfASessionNobodyIsConnectedToIsAConflict(): void
    {
        $routed = self::sdk()->createSession(['mediaMode' => MediaMode::ROUTED])->getSessionId();
        $e = self::failure(fn () => self::sdk()->startBroadcast($routed, ['outputs' => ['hls' => ['lowLatency' => true]]]));
        self::assertInstanceOf(ConflictException::class, $e);
        self::assertSame(409, $e->getStatus());
        self::assertStringEndsWith('/broadcast', $e->getUrl());

        $relayed = self::sdk()->createSession(['mediaMode' => MediaMode::RELAYED])->getSessionId();
        self::assertSame(409, self::failure(fn () => self::sdk()->startBroadcast($relayed, ['outputs' => ['hls' => []]]))->getStatus());
    }

    public function testBadOutputsAreRefusedByTheServer(): void
    {
        $routed = self::sdk()->createSession(['mediaMode' => MediaMode::ROUTED])->getSessionId();
        $e = self::failure(fn () => self::sdk()->startBroadcast($routed, ['outputs' => ['rtmp' => [['serverUrl' => 'http://example.com/live', 'streamName' => 'x']]]]));
        self::assertInstanceOf(ApiException::class, $e);
        self::assertSame(400, $e->getStatus());
    }

    public function testUnknownBroadcastsAndAnEmptyList(): void
    {
        self::assertInstanceOf(NotFoundException::class, self::failure(fn () => self::sdk()->getBroadcast(self::UNKNOWN)));
        self::assertInstanceOf(NotFoundException::class, self::failure(fn () => self::sdk()->stopBroadcast(self::UNKNOWN)));
        $routed = self::sdk()->createSession(['mediaMode' => MediaMode::ROUTED])->getSessionId();
        self::assertSame(['count' => 0, 'items' => []], self::sdk()->listBroadcasts(0, 10, $routed));
    }

    public function testTheSdkChecksIdsAndOutputsBeforeAnyRequest(): void
    {
        foreach ([fn () => self::sdk()->getBroadcast('not-a-uuid'), fn () => self::sdk()->startBroadcast('1_session', [])] as $call) {
            try {
                $call();
                self::fail('the call succeeded');
            } catch (InvalidArgumentException $e) {
                self::assertNotSame('', $e->getMessage());
            }
        }
    }

    private static function failure(callable $call): ApiException
    {
        try {
            $call();
        } catch (ApiException $e) {
            return $e;
        }
        self::fail('the call succeeded');
    }
}
