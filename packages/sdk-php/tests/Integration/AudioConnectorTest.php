<?php

// The Audio Connector through this SDK against the real server: connectAudio makes the server open
// a WebSocket to the test's receiver (start-server.mjs), which gets OpenTok's first JSON message
// (the audio format and the headers) and then 20 ms binary PCM frames; the connector is a
// connection of the session; stopAudioConnection closes the socket and takes the connection out.
// A relayed session is refused (409) as OpenTok does.

declare(strict_types=1);

namespace Colloquy\Tests\Integration;

use Colloquy\Connection;
use Colloquy\Exception\ConflictException;
use Colloquy\Exception\NotFoundException;
use Colloquy\MediaMode;
use Colloquy\Tests\Support\TestCase;

final class AudioConnectorTest extends TestCase
{
    public function testConnectAudioStreamsPcmAndStopClosesTheSocket(): void
    {
        $sessionId = self::sdk()->createSession(['mediaMode' => MediaMode::ROUTED])->getSessionId();
        $uri = self::server()->command(['cmd' => 'ws.uri', 'path' => '/php'])['uri'];
        $connector = self::sdk()->connectAudio($sessionId, self::sdk()->generateToken($sessionId, ['data' => 'php-connector']), [
            'uri' => $uri,
            'audioRate' => 8000,
            'headers' => ['X-From' => 'php'],
        ]);
        self::assertSame(['connectionId', 'id'], self::sorted(array_keys($connector)));

        $socket = self::waitForSocket('/php', static fn (array $s) => $s['frames'] >= 5);
        self::assertSame('php', $socket['headers']['x-from']);
        self::assertSame(['content-type' => 'audio/l16;rate=8000', 'X-From' => 'php'], json_decode($socket['texts'][0], true));
        self::assertSame(320, $socket['frameBytes'], '20 ms of 16-bit PCM at 8 kHz');
        self::assertContains($connector['connectionId'], self::connectionIds($sessionId));

        self::assertTrue(self::sdk()->stopAudioConnection($connector['id']));
        self::assertSame(1000, self::waitForSocket('/php', static fn (array $s) => $s['closeCode'] !== null)['closeCode']);
        self::assertNotContains($connector['connectionId'], self::connectionIds($sessionId));

        $this->expectException(NotFoundException::class);
        self::sdk()->stopAudioConnection($connector['id']);
    }

    public function testARelayedSessionIsRefused(): void
    {
        $sessionId = self::sdk()->createSession(['mediaMode' => MediaMode::RELAYED])->getSessionId();
        $uri = self::server()->command(['cmd' => 'ws.uri', 'path' => '/relayed'])['uri'];
        $this->expectException(ConflictException::class);
        self::sdk()->connectAudio($sessionId, self::sdk()->generateToken($sessionId), ['uri' => $uri]);
    }

    /** @return list<string> */
    private static function connectionIds(string $sessionId): array
    {
        return array_map(static fn (Connection $c) => $c->connectionId, self::sdk()->listConnections($sessionId)->getItems());
    }

    /**
     * @param list<string> $list
     * @return list<string>
     */
    private static function sorted(array $list): array
    {
        sort($list);
        return $list;
    }

    /**
     * @param callable(array<string, mixed>): bool $done
     * @return array<string, mixed>
     */
    private static function waitForSocket(string $path, callable $done): array
    {
        $deadline = microtime(true) + 20;
        do {
            $socket = self::server()->command(['cmd' => 'ws.socket', 'path' => $path])['socket'];
            if (is_array($socket) && $done($socket)) {
                return $socket;
            }
            usleep(50_000);
        } while (microtime(true) < $deadline);
        self::fail('timed out waiting for the WebSocket at ' . $path . ': ' . json_encode($socket));
    }
}
