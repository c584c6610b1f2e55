<?php

// Every project-tree call against the real server while nobody is connected, answered as OpenTok
// answers it: signals and moderation 404 with OpenTok's messages, lists are empty, archiving a
// relayed session is a conflict. Each exception carries the server's status, code and message.

declare(strict_types=1);

namespace Colloquy\Tests\Integration;

use Colloquy\ArchiveList;
use Colloquy\ConnectionList;
use Colloquy\Exception\ApiException;
use Colloquy\Exception\ConflictException;
use Colloquy\Exception\NotFoundException;
use Colloquy\Layout;
use Colloquy\MediaMode;
use Colloquy\StreamList;
use Colloquy\Tests\Support\TestCase;

final class EmptySessionTest extends TestCase
{
    private const UNKNOWN_ARCHIVE = '3c1e9f2a-0000-4000-8000-000000000000';
    private static string $routed;
    private static string $relayed;

    public static function setUpBeforeClass(): void
    {
        self::$routed = self::sdk()->createSession(['mediaMode' => MediaMode::ROUTED])->getSessionId();
        self::$relayed = self::sdk()->createSession(['mediaMode' => MediaMode::RELAYED])->getSessionId();
    }

    public function testSignalToASessionWithNobodyConnected(): void
    {
        $e = self::failure(fn () => self::sdk()->signal(self::$routed, ['type' => 'chat', 'data' => 'hello']));
        self::assertInstanceOf(NotFoundException::class, $e);
        self::assertSame(404, $e->getStatus());
        self::assertSame(404, $e->getServerCode());
        self::assertSame('Not found. No clients are actively connected to the OpenTok session.', $e->getMessage());
        self::assertSame('POST', $e->getMethod());
        self::assertStringEndsWith('/session/' . self::$routed . '/signal', $e->getUrl());

        // Without a type, and as a bare {data}.
        self::assertInstanceOf(NotFoundException::class, self::failure(fn () => self::sdk()->signal(self::$relayed, ['data' => ''])));
    }

    public function testSignalToAConnectionThatIsNotThere(): void
    {
        $e = self::failure(fn () => self::sdk()->signal(self::$routed, ['data' => 'x'], 'connection-1'));
        self::assertInstanceOf(NotFoundException::class, $e);
        self::assertSame('Not found. The client specified by the connection ID is not connected to the session.', $e->getMessage());
    }

    public function testForceDisconnectOfAConnectionThatIsNotThere(): void
    {
        $e = self::failure(fn () => self::sdk()->forceDisconnect(self::$routed, 'connection-1'));
        self::assertInstanceOf(NotFoundException::class, $e);
        self::assertSame('Not found. The client specified by the connection ID is not connected to the session.', $e->getMessage());
    }

    public function testListsNoConnections(): void
    {
        $list = self::sdk()->listConnections(self::$routed);
        self::assertInstanceOf(ConnectionList::class, $list);
        self::assertSame(0, $list->totalCount());
        self::assertSame([], $list->getItems());
        self::assertCount(0, $list);
        self::assertSame(self::server()->apiKey, $list->getProjectId());
        self::assertSame(self::$routed, $list->getSessionId());
    }

    public function testListsNoStreamsAndFindsNone(): void
    {
        $list = self::sdk()->listStreams(self::$routed);
        self::assertInstanceOf(StreamList::class, $list);
        self::assertSame(0, $list->totalCount());
        self::assertSame([], iterator_to_array($list));

        $e = self::failure(fn () => self::sdk()->getStream(self::$routed, 'stream-1'));
        self::assertInstanceOf(NotFoundException::class, $e);
        self::assertSame('Stream not found', $e->getMessage());
    }

    public function testForceMuteOfAStreamThatIsNotThere(): void
    {
        $e = self::failure(fn () => self::sdk()->forceMuteStream(self::$routed, 'stream-1'));
        self::assertInstanceOf(NotFoundException::class, $e);
        self::assertSame('Stream not found', $e->getMessage());
    }

    public function testForceMuteAllAndItsUndoAreAccepted(): void
    {
        self::assertTrue(self::sdk()->forceMuteAll(self::$routed, ['excludedStreams' => ['stream-a']]));
        self::assertTrue(self::sdk()->forceMuteAll(self::$routed));
        self::assertTrue(self::sdk()->disableForceMute(self::$routed));
    }

    public function testLayoutClassesOfStreamsThatAreNotThere(): void
    {
        self::sdk()->setStreamClassLists(self::$routed, []);
        $e = self::failure(fn () => self::sdk()->setStreamClassLists(self::$routed, [['id' => 'stream-1', 'layoutClassList' => ['focus']]]));
        self::assertInstanceOf(NotFoundException::class, $e);
        self::assertSame('Stream not found', $e->getMessage());
        self::assertInstanceOf(NotFoundException::class, self::failure(fn () => self::sdk()->updateStream(self::$routed, 'stream-1', ['layoutClassList' => []])));
    }

    public function testListsNoArchives(): void
    {
        foreach ([self::sdk()->listArchives(0, 10, self::$routed), self::sdk()->listArchives(5, 1000, self::$relayed)] as $list) {
            self::assertInstanceOf(ArchiveList::class, $list);
            self::assertSame(0, $list->totalCount());
            self::assertSame([], $list->getItems());
        }
        // The project's archives (other tests make some) hold none of these sessions'.
        $all = self::sdk()->listArchives(0, 1000);
        self::assertSame($all->totalCount(), count($all));
        self::assertSame([], array_filter($all->getItems(), static fn ($a) => in_array($a->sessionId, [self::$routed, self::$relayed], true)));
    }

    public function testArchivingARelayedSessionIsAConflict(): void
    {
        $e = self::failure(fn () => self::sdk()->startArchive(self::$relayed, ['name' => 'Relayed']));
        self::assertInstanceOf(ConflictException::class, $e);
        self::assertSame(409, $e->getStatus());
        self::assertSame('Recording already in progress or session not using OpenTok Media Router', $e->getMessage());
    }

    public function testArchivingARoutedSessionWithNobodyConnectedIsAConflict(): void
    {
        $e = self::failure(fn () => self::sdk()->startArchive(self::$routed));
        self::assertInstanceOf(ConflictException::class, $e);
        self::assertSame('No clients are actively connected to the OpenTok session', $e->getMessage());
    }

    public function testArchivingASessionTheServerDoesNotKnow(): void
    {
        $e = self::failure(fn () => self::sdk()->startArchive(self::sessionIdOf(self::server()->apiKey)));
        self::assertInstanceOf(NotFoundException::class, $e);
        self::assertSame('Session not found', $e->getMessage());
    }

    public function testCallsOnASessionTheServerDoesNotKnow(): void
    {
        $unknown = self::sessionIdOf(self::server()->apiKey);
        foreach ([
            fn () => self::sdk()->signal($unknown, ['data' => 'x']),
            fn () => self::sdk()->listConnections($unknown),
            fn () => self::sdk()->listStreams($unknown),
            fn () => self::sdk()->forceMuteAll($unknown),
        ] as $call) {
            $e = self::failure($call);
            self::assertInstanceOf(NotFoundException::class, $e);
            self::assertSame('Session not found', $e->getMessage());
        }
    }

    public function testEveryCallOnAnArchiveThatIsNotThere(): void
    {
        $sdk = self::sdk();
        foreach ([
            fn () => $sdk->getArchive(self::UNKNOWN_ARCHIVE),
            fn () => $sdk->stopArchive(self::UNKNOWN_ARCHIVE),
            fn () => $sdk->deleteArchive(self::UNKNOWN_ARCHIVE),
            fn () => $sdk->setArchiveLayout(self::UNKNOWN_ARCHIVE, Layout::getPIP()),
            fn () => $sdk->addStreamToArchive(self::UNKNOWN_ARCHIVE, 'stream-1'),
            fn () => $sdk->removeStreamFromArchive(self::UNKNOWN_ARCHIVE, 'stream-1'),
        ] as $call) {
            $e = self::failure($call);
            self::assertInstanceOf(NotFoundException::class, $e);
            self::assertSame('Archive not found', $e->getMessage());
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
