<?php

// Streams and force mute with streams really published: clients joined with tokens this SDK made
// and publish VP8 + Opus from werift peers through the SFU. The SDK lists and reads the streams
// (name, videoType, the layout classes the token gave), changes their layout classes, and mutes
// them; the clients see the mutes, and a subscriber's audio stops arriving from the SFU.

declare(strict_types=1);

namespace Colloquy\Tests\Integration;

use Colloquy\Exception\NotFoundException;
use Colloquy\MediaMode;
use Colloquy\Role;
use Colloquy\Stream;
use Colloquy\StreamList;
use Colloquy\Tests\Support\LiveClient;
use Colloquy\Tests\Support\TestCase;

final class StreamsTest extends TestCase
{
    private static string $sessionId;
    private static LiveClient $alice;
    private static LiveClient $bob;
    /** A subscriber-role client that watches. */
    private static LiveClient $carol;
    private static string $camera;
    private static string $screen;

    public static function setUpBeforeClass(): void
    {
        self::$sessionId = self::sdk()->createSession(['mediaMode' => MediaMode::ROUTED])->getSessionId();
        self::$alice = self::join(self::$sessionId, ['data' => 'Alice', 'initialLayoutClassList' => ['focus', 'speaker']]);
        self::$bob = self::join(self::$sessionId, ['data' => 'Bob'], true);
        self::$carol = self::join(self::$sessionId, ['role' => Role::SUBSCRIBER]);
        self::$camera = self::$alice->publish(['name' => 'Alice camera']);
        self::$screen = self::$bob->publish(['name' => 'Bob slides', 'videoType' => 'screen']);
    }

    public static function tearDownAfterClass(): void
    {
        self::server()->leaveAll();
    }

    public function testListsAndGetsTheLiveStreams(): void
    {
        $list = self::sdk()->listStreams(self::$sessionId);
        self::assertInstanceOf(StreamList::class, $list);
        self::assertSame(2, $list->totalCount());
        [$camera, $screen] = $list->getItems();
        self::assertSame([self::$camera, 'camera', 'Alice camera', ['focus', 'speaker']], [$camera->id, $camera->videoType, $camera->name, $camera->layoutClassList]);
        self::assertSame([self::$screen, 'screen', 'Bob slides', []], [$screen->id, $screen->videoType, $screen->name, $screen->layoutClassList]);

        $got = self::sdk()->getStream(self::$sessionId, self::$screen);
        self::assertInstanceOf(Stream::class, $got);
        self::assertSame($screen->jsonSerialize(), $got->jsonSerialize());
        self::assertSame(['id' => self::$screen, 'videoType' => 'screen', 'name' => 'Bob slides', 'layoutClassList' => []], $got->jsonSerialize());

        // What the clients were told matches.
        $created = self::$carol->waitFor('streamCreated', ['stream' => ['streamId' => self::$screen]])['stream'];
        self::assertSame(['Bob slides', 'screen', self::$bob->connectionId], [$created['name'], $created['videoType'], $created['connectionId']]);
    }

    public function testSetsLayoutClassesOfLiveStreams(): void
    {
        $sdk = self::sdk();
        $sdk->setStreamClassLists(self::$sessionId, [
            ['id' => self::$camera, 'layoutClassList' => []],
            ['id' => self::$screen, 'layoutClassList' => ['full', 'main']],
        ]);
        self::assertSame([], $sdk->getStream(self::$sessionId, self::$camera)->layoutClassList);
        self::assertSame(['full', 'main'], $sdk->getStream(self::$sessionId, self::$screen)->layoutClassList);

        $sdk->updateStream(self::$sessionId, self::$camera, ['layoutClassList' => ['focus']]);
        self::assertSame([['focus'], ['full', 'main']], array_map(static fn (Stream $s) => $s->layoutClassList, $sdk->listStreams(self::$sessionId)->getItems()));

        // All or nothing: one unknown stream and no stream changes.
        try {
            $sdk->setStreamClassLists(self::$sessionId, [['id' => self::$camera, 'layoutClassList' => ['x']], ['id' => 'gone', 'layoutClassList' => []]]);
            self::fail('a class list for an unknown stream was accepted');
        } catch (NotFoundException $e) {
            self::assertSame('Stream not found', $e->getMessage());
        }
        self::assertSame(['focus'], $sdk->getStream(self::$sessionId, self::$camera)->layoutClassList);
    }

    public function testForceMuteStreamIsSeenByTheClientsAndStopsItsAudio(): void
    {
        $subscriberId = self::$carol->subscribe(self::$camera);
        $before = self::waitForPackets($subscriberId, 10, 10);

        self::assertTrue(self::sdk()->forceMuteStream(self::$sessionId, self::$camera));
        self::$alice->waitFor('streamMuteForced', ['streamId' => self::$camera]);
        foreach ([self::$bob, self::$carol] as $client) {
            $change = $client->waitFor('streamPropertyChanged', ['streamId' => self::$camera, 'changedProperty' => 'hasAudio']);
            self::assertSame([true, false], [$change['oldValue'], $change['newValue']]);
        }
        // The SFU stops forwarding the audio (a client that ignored the request is muted anyway);
        // video goes on.
        usleep(300000);
        $muted = self::$carol->packets($subscriberId);
        usleep(500000);
        $later = self::$carol->packets($subscriberId);
        self::assertSame($muted['audio'], $later['audio'], 'audio still arrives after the mute');
        self::assertGreaterThan($muted['video'], $later['video'], 'video stopped too');
        self::assertGreaterThan($before['video'], $muted['video']);

        // The publisher may turn its audio back on (OpenTok allows it), and it flows again.
        $since = self::$carol->lastSeq();
        self::assertSame('response', self::$alice->request(['type' => 'updateStream', 'streamId' => self::$camera, 'hasAudio' => true])['type']);
        self::$carol->waitFor('streamPropertyChanged', ['streamId' => self::$camera, 'changedProperty' => 'hasAudio', 'newValue' => true], $since);
        self::waitForPackets($subscriberId, $later['audio'] + 10, 0);
    }

    public function testForceMuteAllWithExcludedStreamsThenDisableForceMute(): void
    {
        $sdk = self::sdk();
        $aliceSince = self::$alice->lastSeq();
        $carolSince = self::$carol->lastSeq();
        self::assertTrue($sdk->forceMuteAll(self::$sessionId, ['excludedStreams' => [self::$camera]]));

        self::$bob->waitFor('streamMuteForced', ['streamId' => self::$screen]);
        foreach ([self::$alice, self::$bob, self::$carol] as $client) {
            $client->waitFor('muteForced', ['active' => true]);
        }
        self::$carol->waitFor('streamPropertyChanged', ['streamId' => self::$screen, 'changedProperty' => 'hasAudio', 'newValue' => false], $carolSince);
        // The excluded stream was left alone (its mute would have come before muteForced).
        $aliceMutes = array_filter(self::$alice->events('streamMuteForced'), static fn ($e) => $e['seq'] > $aliceSince);
        self::assertSame([], array_values($aliceMutes));
        self::assertSame([], array_values(array_filter(
            self::$carol->events('streamPropertyChanged'),
            static fn ($e) => $e['seq'] > $carolSince && $e['streamId'] === self::$camera
        )));

        // While it is active, a new stream starts muted.
        $dave = self::join(self::$sessionId);
        $published = $dave->tryPublish(['name' => 'Dave']);
        self::assertTrue($published['muteForced']);
        self::assertFalse(self::$carol->waitFor('streamCreated', ['stream' => ['streamId' => $published['streamId']]])['stream']['hasAudio']);

        self::assertTrue($sdk->disableForceMute(self::$sessionId));
        foreach ([self::$alice, self::$carol, $dave] as $client) {
            $client->waitFor('muteForced', ['active' => false]);
        }
        $erin = self::join(self::$sessionId);
        $published = $erin->tryPublish(['name' => 'Erin']);
        self::assertFalse($published['muteForced']);
        self::assertTrue(self::$carol->waitFor('streamCreated', ['stream' => ['streamId' => $published['streamId']]])['stream']['hasAudio']);
        self::assertSame(4, $sdk->listStreams(self::$sessionId)->totalCount());

        // A stream that ends is gone from the lists.
        $erin->leave();
        self::$carol->waitFor('streamDestroyed', ['streamId' => $published['streamId'], 'reason' => 'clientDisconnected']);
        self::assertSame(3, $sdk->listStreams(self::$sessionId)->totalCount());
        $this->expectException(NotFoundException::class);
        $sdk->getStream(self::$sessionId, $published['streamId']);
    }

    /** @return array{audio: int, video: int} once the subscription got that many packets */
    private static function waitForPackets(string $subscriberId, int $audio, int $video): array
    {
        $deadline = microtime(true) + 10;
        do {
            $packets = self::$carol->packets($subscriberId);
            if ($packets['audio'] >= $audio && $packets['video'] >= $video) {
                return $packets;
            }
            usleep(50000);
        } while (microtime(true) < $deadline);
        self::fail("the subscriber got $packets[audio] audio and $packets[video] video packets, waiting for $audio and $video");
    }
}
