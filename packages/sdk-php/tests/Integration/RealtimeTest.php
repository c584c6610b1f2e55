<?php

// Signals, connections and moderation with real clients in the session: each client joined over
// the signaling WebSocket with a token this SDK made, and the tests check what the clients
// received after the SDK's call (signals to everyone and to one connection, forced disconnects),
// and that the server holds every role to its permissions.

declare(strict_types=1);

namespace Colloquy\Tests\Integration;

use Colloquy\Connection;
use Colloquy\Exception\NotFoundException;
use Colloquy\MediaMode;
use Colloquy\Role;
use Colloquy\Tests\Support\LiveClient;
use Colloquy\Tests\Support\TestCase;

final class RealtimeTest extends TestCase
{
    private static string $sessionId;
    private static LiveClient $alice;
    private static LiveClient $bob;

    public static function setUpBeforeClass(): void
    {
        self::$sessionId = self::sdk()->createSession(['mediaMode' => MediaMode::ROUTED])->getSessionId();
        self::$alice = self::join(self::$sessionId, ['data' => 'name=Alice']);
        self::$bob = self::join(self::$sessionId, ['data' => 'name=Bob', 'role' => Role::SUBSCRIBER], true);
    }

    public static function tearDownAfterClass(): void
    {
        self::server()->leaveAll();
    }

    public function testSignalToEveryone(): void
    {
        self::sdk()->signal(self::$sessionId, ['type' => 'chat', 'data' => 'Hello from PHP 🎉']);
        foreach ([self::$alice, self::$bob] as $client) {
            $signal = $client->waitFor('signal', ['data' => 'Hello from PHP 🎉']);
            self::assertSame('chat', $signal['signalType']);
            self::assertNull($signal['from'], 'a REST signal comes from no connection');
        }

        // Without a type, and answered 204 with no body.
        $raw = self::raw('POST', self::projectPath('session/' . self::$sessionId . '/signal'), '{"data":"untyped"}', ['Content-Type: application/json']);
        self::assertSame(204, $raw['status']);
        self::assertSame('', $raw['body']);
        self::assertArrayNotHasKey('signalType', self::$bob->waitFor('signal', ['data' => 'untyped']));
    }

    public function testSignalToOneConnection(): void
    {
        self::sdk()->signal(self::$sessionId, ['type' => 'private', 'data' => 'just Bob'], self::$bob->connectionId);
        self::assertNull(self::$bob->waitFor('signal', ['data' => 'just Bob', 'signalType' => 'private'])['from']);

        $raw = self::raw('POST', self::projectPath('session/' . self::$sessionId . '/connection/' . self::$alice->connectionId . '/signal'), '{"type":"private","data":"just Alice"}', ['Content-Type: application/json']);
        self::assertSame(204, $raw['status']);
        self::$alice->waitFor('signal', ['data' => 'just Alice']);

        // Signals from one sender arrive in order: once a later signal to everyone is in, an
        // earlier one meant for the other client would have been too.
        self::sdk()->signal(self::$sessionId, ['type' => 'private', 'data' => 'everyone again']);
        self::$alice->waitFor('signal', ['data' => 'everyone again']);
        self::$bob->waitFor('signal', ['data' => 'everyone again']);
        $private = static fn (LiveClient $c): array => array_column(array_filter($c->events('signal'), static fn ($s) => ($s['signalType'] ?? null) === 'private'), 'data');
        self::assertSame(['just Alice', 'everyone again'], $private(self::$alice));
        self::assertSame(['just Bob', 'everyone again'], $private(self::$bob));
    }

    public function testListsTheConnectedClients(): void
    {
        $before = (int) floor(microtime(true) * 1000);
        $carol = self::join(self::$sessionId);
        $list = self::sdk()->listConnections(self::$sessionId);
        self::assertSame(3, $list->totalCount());
        self::assertCount(3, $list);
        self::assertSame(self::$sessionId, $list->getSessionId());
        self::assertSame(self::server()->apiKey, $list->getProjectId());
        $ids = array_map(static fn (Connection $c): string => $c->connectionId, $list->getItems());
        self::assertSame([self::$alice->connectionId, self::$bob->connectionId, $carol->connectionId], $ids, 'oldest first');
        foreach ($list as $connection) {
            self::assertSame('Connected', $connection->connectionState);
        }
        $newest = $list->getItems()[2];
        self::assertGreaterThanOrEqual($before - 1000, $newest->createdAt);
        self::assertLessThanOrEqual((int) floor(microtime(true) * 1000) + 1000, $newest->createdAt);

        $carol->leave();
        self::$alice->waitFor('connectionDestroyed', ['connectionId' => $carol->connectionId, 'reason' => 'clientDisconnected']);
        self::assertSame(2, self::sdk()->listConnections(self::$sessionId)->totalCount());
    }

    public function testForceDisconnectOfALiveConnection(): void
    {
        $dave = self::join(self::$sessionId, ['data' => 'name=Dave']);
        self::$alice->waitFor('connectionCreated', ['connection' => ['connectionId' => $dave->connectionId, 'data' => 'name=Dave']]);
        $streamId = $dave->publish(['name' => 'Dave']);

        self::assertTrue(self::sdk()->forceDisconnect(self::$sessionId, $dave->connectionId));
        self::assertSame('forceDisconnected', $dave->waitFor('disconnected')['reason']);
        self::$alice->waitFor('streamDestroyed', ['streamId' => $streamId, 'reason' => 'forceDisconnected']);
        self::assertSame(0, self::sdk()->listStreams(self::$sessionId)->totalCount());
        self::$alice->waitFor('connectionDestroyed', ['connectionId' => $dave->connectionId, 'reason' => 'forceDisconnected']);
        self::$bob->waitFor('connectionDestroyed', ['connectionId' => $dave->connectionId, 'reason' => 'forceDisconnected']);
        self::assertSame(4002, self::waitClosed($dave)['code']);
        self::assertNotContains($dave->connectionId, array_map(static fn (Connection $c) => $c->connectionId, self::sdk()->listConnections(self::$sessionId)->getItems()));

        // It is gone: a second call, or a signal to it, is a 404.
        $this->expectException(NotFoundException::class);
        $this->expectExceptionMessage('Not found. The client specified by the connection ID is not connected to the session.');
        self::sdk()->forceDisconnect(self::$sessionId, $dave->connectionId);
    }

    public function testAConnectionOfAnotherSessionIsNotFound(): void
    {
        $otherSession = self::sdk()->createSession()->getSessionId();
        $other = self::join($otherSession);
        foreach ([
            fn () => self::sdk()->signal(self::$sessionId, ['data' => 'not for you'], $other->connectionId),
            fn () => self::sdk()->forceDisconnect(self::$sessionId, $other->connectionId),
        ] as $call) {
            try {
                $call();
                self::fail('a call through one session reached a connection of another');
            } catch (NotFoundException $e) {
                self::assertSame('Not found. The client specified by the connection ID is not connected to the session.', $e->getMessage());
            }
        }
        // Still there, and told nothing.
        self::sdk()->signal($otherSession, ['data' => 'still here']);
        $other->waitFor('signal', ['data' => 'still here']);
        self::assertSame(['signal'], array_column($other->events(), 'type'));
        $other->leave();
    }

    public function testForceDisconnectAnswers204(): void
    {
        $erin = self::join(self::$sessionId);
        $raw = self::raw('DELETE', self::projectPath('session/' . self::$sessionId . '/connection/' . $erin->connectionId));
        self::assertSame(204, $raw['status']);
        self::assertSame('', $raw['body']);
        self::assertSame('forceDisconnected', $erin->waitFor('disconnected')['reason']);
    }

    public function testRolesAreEnforcedByTheServer(): void
    {
        // Bob joined with a subscriber T1 token: he may not publish, nor moderate.
        $refused = self::$bob->tryPublish(['name' => 'not allowed']);
        self::assertSame(1500, $refused['refused']['code']);
        self::assertSame('OT_PERMISSION_DENIED', $refused['refused']['name']);
        self::assertSame(0, self::sdk()->listStreams(self::$sessionId)->totalCount());
        $reply = self::$bob->request(['type' => 'forceDisconnect', 'connectionId' => self::$alice->connectionId]);
        self::assertSame(['error', 1520, 'OT_PERMISSION_DENIED'], [$reply['type'], $reply['code'], $reply['name']]);

        // A publisher may publish but not force a mute; a publish-only client may not subscribe.
        $streamId = self::$alice->publish(['name' => 'Alice', 'audio' => true]);
        $reply = self::$alice->request(['type' => 'forceMuteStream', 'streamId' => $streamId]);
        self::assertSame(['error', 1540, 'OT_PERMISSION_DENIED'], [$reply['type'], $reply['code'], $reply['name']]);
        $publishOnly = self::join(self::$sessionId, ['role' => Role::PUBLISHER_ONLY]);
        $reply = $publishOnly->request(['type' => 'subscribe', 'streamId' => $streamId]);
        self::assertSame(['error', 1501, 'OT_PERMISSION_DENIED'], [$reply['type'], $reply['code'], $reply['name']]);

        // A moderator token may, and the stream is muted for everyone.
        $moderator = self::join(self::$sessionId, ['role' => Role::MODERATOR]);
        self::assertSame('response', $moderator->request(['type' => 'forceMuteStream', 'streamId' => $streamId])['type']);
        self::$alice->waitFor('streamMuteForced', ['streamId' => $streamId]);
        self::$bob->waitFor('streamPropertyChanged', ['streamId' => $streamId, 'changedProperty' => 'hasAudio', 'newValue' => false]);
        $publishOnly->leave();
        $moderator->leave();
    }

    /** @return array{code: int, reason: string} */
    private static function waitClosed(LiveClient $client): array
    {
        $deadline = microtime(true) + 5;
        while (($closed = $client->closed()) === null && microtime(true) < $deadline) {
            usleep(20000);
        }
        self::assertNotNull($closed, 'the server did not close the socket');
        return $closed;
    }
}
