<?php

// Archiving through the SDK with real clients publishing real VP8 + Opus through the SFU: a composed
// archive and, beside it (multiArchiveTag), an individual one in manual stream mode; layouts, stream
// selection, listing, stopping both ways, waiting for `available` and downloading the MP4 and the
// ZIP through the signed url, deleting; an archiveMode ALWAYS session recorded by itself; and the
// archive JSON as the server sends it (integer partnerId, an application's ids, statuses, url).
// The launcher stops a session's archives one second after its last client left.

declare(strict_types=1);

namespace Colloquy\Tests\Integration;

use Colloquy\Archive;
use Colloquy\ArchiveList;
use Colloquy\ArchiveMode;
use Colloquy\Exception\ConflictException;
use Colloquy\Exception\NotFoundException;
use Colloquy\Exception\RequestException;
use Colloquy\Layout;
use Colloquy\MediaMode;
use Colloquy\OutputMode;
use Colloquy\StreamMode;
use Colloquy\Tests\Support\LiveClient;
use Colloquy\Tests\Support\TestCase;

final class ArchivesTest extends TestCase
{
    /** Seconds each archive records before it is stopped. */
    private const RECORD_SECONDS = 2.0;
    private const SETTLE_TIMEOUT = 90.0;

    private static string $sessionId;
    private static LiveClient $alice;
    private static LiveClient $bob;
    private static string $aliceStream;
    private static string $bobStream;
    private static ?Archive $composed = null;
    private static ?Archive $individual = null;
    private static float $startedAt = 0.0;

    public static function setUpBeforeClass(): void
    {
        self::$sessionId = self::sdk()->createSession(['mediaMode' => MediaMode::ROUTED])->getSessionId();
        self::$alice = self::join(self::$sessionId, ['data' => 'Alice']);
        self::$bob = self::join(self::$sessionId, ['data' => 'Bob']);
        self::$aliceStream = self::$alice->publish(['name' => 'Alice']);
        self::$bobStream = self::$bob->publish(['name' => 'Bob']);
    }

    public static function tearDownAfterClass(): void
    {
        self::server()->leaveAll();
    }

    public function testStartsAComposedArchive(): void
    {
        $before = (int) floor(microtime(true) * 1000);
        $archive = self::sdk()->startArchive(self::$sessionId, ['name' => 'PHP composed', 'layout' => Layout::getBestFit()]);
        self::$composed = $archive;
        self::$startedAt = microtime(true);

        self::assertSame('started', $archive->status);
        self::assertSame(self::$sessionId, $archive->sessionId);
        self::assertSame('PHP composed', $archive->name);
        self::assertMatchesRegularExpression('/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/', $archive->id);
        self::assertSame((int) self::server()->apiKey, $archive->partnerId, 'partnerId is an integer for a numeric API key');
        self::assertSame((int) self::server()->apiKey, $archive->projectId);
        self::assertNull($archive->applicationId);
        self::assertSame([OutputMode::COMPOSED, StreamMode::AUTO, '640x480'], [$archive->outputMode, $archive->streamMode, $archive->resolution]);
        self::assertSame([true, true], [$archive->hasAudio, $archive->hasVideo]);
        self::assertSame([0, 0, null], [$archive->duration, $archive->size, $archive->url]);
        self::assertGreaterThanOrEqual($before - 1000, $archive->createdAt);
        self::assertEqualsCanonicalizing([
            ['streamId' => self::$aliceStream, 'hasAudio' => true, 'hasVideo' => true],
            ['streamId' => self::$bobStream, 'hasAudio' => true, 'hasVideo' => true],
        ], $archive->streams);

        self::assertEveryFieldReadable($archive);

        foreach ([self::$alice, self::$bob] as $client) {
            self::assertSame('PHP composed', $client->waitFor('archiveStarted', ['archiveId' => $archive->id])['name']);
        }
    }

    /** @depends testStartsAComposedArchive */
    public function testASecondArchiveNeedsAMultiArchiveTag(): void
    {
        try {
            self::sdk()->startArchive(self::$sessionId, ['name' => 'second']);
            self::fail('a second archive without a multiArchiveTag started');
        } catch (ConflictException $e) {
            self::assertSame(409, $e->getStatus());
            self::assertSame('Recording already in progress or session not using OpenTok Media Router', $e->getMessage());
        }

        $archive = self::sdk()->startArchive(self::$sessionId, [
            'name' => 'PHP individual',
            'outputMode' => OutputMode::INDIVIDUAL,
            'streamMode' => StreamMode::MANUAL,
            'multiArchiveTag' => 'php-individual',
            'hasAudio' => true,
        ]);
        self::$individual = $archive;
        self::assertSame(['started', OutputMode::INDIVIDUAL, StreamMode::MANUAL, 'php-individual'], [$archive->status, $archive->outputMode, $archive->streamMode, $archive->multiArchiveTag]);
        self::assertArrayNotHasKey('resolution', $archive->toArray(), 'individual archives have no resolution');
        self::assertSame([], $archive->streams, 'manual mode records nothing until streams are added');
    }

    /** @depends testASecondArchiveNeedsAMultiArchiveTag */
    public function testAddsAndRemovesStreamsInManualMode(): void
    {
        $sdk = self::sdk();
        $id = self::$individual->id;
        self::assertTrue($sdk->addStreamToArchive($id, self::$aliceStream, true, false));
        self::assertSame([['streamId' => self::$aliceStream, 'hasAudio' => true, 'hasVideo' => false]], $sdk->getArchive($id)->streams);
        // Again, to change its choice; and Bob's through the Archive object.
        self::assertTrue($sdk->addStreamToArchive($id, self::$aliceStream));
        self::assertTrue(self::$individual->addStreamToArchive(self::$bobStream));
        self::assertSame([
            ['streamId' => self::$aliceStream, 'hasAudio' => true, 'hasVideo' => true],
            ['streamId' => self::$bobStream, 'hasAudio' => true, 'hasVideo' => true],
        ], $sdk->getArchive($id)->streams);

        self::assertTrue(self::$individual->removeStreamFromArchive(self::$bobStream));
        self::assertSame([self::$aliceStream], array_column($sdk->getArchive($id)->streams, 'streamId'));
        $e = self::failure(fn () => $sdk->removeStreamFromArchive($id, self::$bobStream));
        self::assertInstanceOf(NotFoundException::class, $e);
        self::assertSame('Stream not found in this archive', $e->getMessage());
        $e = self::failure(fn () => $sdk->addStreamToArchive($id, 'no-such-stream'));
        self::assertInstanceOf(NotFoundException::class, $e);
        self::assertSame('Stream not found', $e->getMessage());
        self::assertTrue($sdk->addStreamToArchive($id, self::$bobStream, false, true));
    }

    /** @depends testStartsAComposedArchive */
    public function testStreamChangesToAnArchiveInAutoModeAre405(): void
    {
        foreach ([
            fn () => self::sdk()->addStreamToArchive(self::$composed->id, self::$aliceStream),
            fn () => self::sdk()->removeStreamFromArchive(self::$composed->id, self::$aliceStream),
        ] as $call) {
            $e = self::failure($call);
            self::assertInstanceOf(RequestException::class, $e);
            self::assertSame(405, $e->getStatus());
            self::assertStringContainsString('Unsupported Stream Mode', $e->getMessage());
        }
    }

    /** @depends testASecondArchiveNeedsAMultiArchiveTag */
    public function testChangesTheLayoutOfAComposedArchive(): void
    {
        self::sdk()->setArchiveLayout(self::$composed->id, Layout::getPIP());
        self::$composed->setLayout(Layout::createCustom(['stylesheet' => 'stream { position: absolute; width: 50%; height: 100%; } stream:last-child { left: 50%; }']));
        self::sdk()->setArchiveLayout(self::$composed->id, Layout::getBestFit()->setScreenshareType(Layout::LAYOUT_PIP));

        $e = self::failure(fn () => self::sdk()->setArchiveLayout(self::$composed->id, Layout::createCustom(['stylesheet' => 'stream:hover { left: 0 }'])));
        self::assertInstanceOf(RequestException::class, $e);
        self::assertSame(400, $e->getStatus());
        self::assertStringStartsWith('Invalid stylesheet', $e->getMessage());

        $e = self::failure(fn () => self::sdk()->setArchiveLayout(self::$individual->id, Layout::getPIP()));
        self::assertInstanceOf(RequestException::class, $e);
        self::assertSame(400, $e->getStatus());
        self::assertSame('Layouts apply to composed archives only', $e->getMessage());
    }

    /** @depends testASecondArchiveNeedsAMultiArchiveTag */
    public function testListsArchivesNewestFirstWithOffsetCountAndSession(): void
    {
        $ids = [self::$individual->id, self::$composed->id];
        $list = self::sdk()->listArchives(0, 10, self::$sessionId);
        self::assertInstanceOf(ArchiveList::class, $list);
        self::assertSame(2, $list->totalCount());
        self::assertSame($ids, array_map(static fn (Archive $a) => $a->id, $list->getItems()));
        self::assertSame(['started', 'started'], array_map(static fn (Archive $a) => $a->status, iterator_to_array($list)));

        $page = self::sdk()->listArchives(1, 1, self::$sessionId);
        self::assertSame(2, $page->totalCount(), 'the total counts every match, not the page');
        self::assertSame([self::$composed->id], array_map(static fn (Archive $a) => $a->id, $page->getItems()));
        self::assertSame([], self::sdk()->listArchives(2, 10, self::$sessionId)->getItems());

        // Without a session: this project's archives, these two among them, newest first.
        $all = array_map(static fn (Archive $a) => $a->id, self::sdk()->listArchives(0, 1000)->getItems());
        self::assertSame($ids, array_values(array_intersect($all, $ids)));
    }

    /** @depends testAddsAndRemovesStreamsInManualMode */
    public function testStopsThroughTheSdkAndThroughTheArchive(): void
    {
        // Let both record a little real media.
        $left = self::RECORD_SECONDS - (microtime(true) - self::$startedAt);
        if ($left > 0) {
            usleep((int) ($left * 1e6));
        }
        $stopped = self::sdk()->stopArchive(self::$composed->id);
        self::assertSame('stopped', $stopped->status);
        self::assertSame(self::$composed->id, $stopped->id);
        self::assertGreaterThanOrEqual(1, $stopped->duration);
        self::assertSame([], $stopped->streams);

        self::assertSame(self::$individual, self::$individual->stop());
        self::assertSame('stopped', self::$individual->status);

        foreach ([self::$composed->id, self::$individual->id] as $id) {
            self::$alice->waitFor('archiveStopped', ['archiveId' => $id]);
        }
        $e = self::failure(fn () => self::sdk()->stopArchive(self::$composed->id));
        self::assertInstanceOf(ConflictException::class, $e);
        self::assertSame('Archive is not in started state', $e->getMessage());
    }

    /** @depends testStopsThroughTheSdkAndThroughTheArchive */
    public function testTheComposedArchiveBecomesAvailableAsAnMp4(): void
    {
        $archive = self::settled(self::$composed->id);
        self::assertSame('available', $archive->status, (string) $archive->reason);
        self::assertGreaterThanOrEqual(1, $archive->duration);
        self::assertLessThan(30, $archive->duration);
        self::assertGreaterThan(0, $archive->size);
        self::assertMatchesRegularExpression('/^[0-9a-f]{64}$/', (string) $archive->sha256sum);
        self::assertEveryFieldReadable($archive);
        $body = self::download($archive, 'video/mp4');
        self::assertSame('ftyp', substr($body, 4, 4), 'an MP4 file');
    }

    /** @depends testStopsThroughTheSdkAndThroughTheArchive */
    public function testTheIndividualArchiveBecomesAvailableAsAZip(): void
    {
        $archive = self::settled(self::$individual->id);
        self::assertSame('available', $archive->status, (string) $archive->reason);
        $body = self::download($archive, 'application/zip');
        self::assertSame("PK\x03\x04", substr($body, 0, 4), 'a ZIP file');
        // One recording per stream that was selected, and the manifest.
        self::assertStringContainsString('manifest.json', $body);
        foreach ([self::$aliceStream, self::$bobStream] as $streamId) {
            self::assertStringContainsString($streamId, $body);
        }
    }

    /** @depends testTheComposedArchiveBecomesAvailableAsAnMp4 */
    public function testDeletesArchives(): void
    {
        $url = self::sdk()->getArchive(self::$composed->id)->url;
        self::assertTrue(self::sdk()->deleteArchive(self::$composed->id));
        $deleted = self::sdk()->getArchive(self::$composed->id);
        self::assertSame(['deleted', null], [$deleted->status, $deleted->url]);
        self::assertSame(404, self::fetch($url)['status'], 'the old link no longer serves the file');
        $e = self::failure(fn () => self::sdk()->deleteArchive(self::$composed->id));
        self::assertInstanceOf(ConflictException::class, $e);

        $individual = self::sdk()->getArchive(self::$individual->id);
        self::assertTrue($individual->delete());
        self::assertTrue($individual->isDeleted());
        self::assertSame('deleted', self::sdk()->getArchive(self::$individual->id)->status);
    }

    public function testAnAlwaysSessionIsRecordedByItself(): void
    {
        $sdk = self::sdk();
        $sessionId = $sdk->createSession(['archiveMode' => ArchiveMode::ALWAYS, 'archiveName' => 'PHP daily', 'archiveResolution' => '480x640'])->getSessionId();
        $client = self::join($sessionId);
        $started = $client->waitFor('archiveStarted', ['name' => 'PHP daily']);
        $client->publish(['name' => 'Daily']);
        $recordingSince = microtime(true);

        $list = $sdk->listArchives(0, 10, $sessionId);
        self::assertSame(1, $list->totalCount());
        $archive = $list->getItems()[0];
        self::assertSame([$started['archiveId'], 'started', 'PHP daily', '480x640'], [$archive->id, $archive->status, $archive->name, $archive->resolution]);
        $e = self::failure(fn () => $sdk->stopArchive($archive->id));
        self::assertInstanceOf(ConflictException::class, $e, 'an automatic archive cannot be stopped by a call');

        usleep((int) (max(0.0, self::RECORD_SECONDS - (microtime(true) - $recordingSince)) * 1e6));
        // Everyone leaves: the archive stops by itself (after the launcher's one-second delay).
        $client->leave();
        $archive = self::settled($archive->id);
        self::assertSame('available', $archive->status, (string) $archive->reason);
        self::assertSame('session ended', $archive->reason);
        self::assertGreaterThanOrEqual(1, $archive->duration);
        self::assertSame('ftyp', substr(self::download($archive, 'video/mp4'), 4, 4));
    }

    public function testAnApplicationsArchiveAndAnArchiveWithNothingRecorded(): void
    {
        $app = self::appSdk();
        $sessionId = $app->createSession()->getSessionId();
        $client = self::join($sessionId, [], false, $app);
        $archive = $app->startArchive($sessionId, ['name' => 'Nothing']);
        self::assertSame(self::server()->applicationId, $archive->applicationId);
        self::assertSame(self::server()->applicationId, $archive->projectId);
        self::assertNull($archive->partnerId);
        self::assertEveryFieldReadable($archive);

        // Stopped before anything was published: it fails, with the reason.
        self::assertSame('stopped', $archive->stop()->status);
        $failed = self::settled($archive->id, $app);
        self::assertSame('failed', $failed->status);
        self::assertNotSame('', $failed->reason);
        self::assertNull($failed->url);
        self::assertSame([$archive->id], array_map(static fn (Archive $a) => $a->id, $app->listArchives(0, 5, $sessionId)->getItems()));
        $client->leave();
    }

    /** Every field of the server's archive JSON reads as a property of the Archive, unchanged. */
    private static function assertEveryFieldReadable(Archive $archive): void
    {
        foreach ($archive->toArray() as $field => $value) {
            self::assertSame($value, $archive->{$field}, "Archive->$field");
            self::assertSame($value !== null, isset($archive->{$field}), "isset(Archive->$field)");
        }
    }

    /** Polls getArchive until the archive is available, failed or deleted. */
    private static function settled(string $archiveId, ?\Colloquy\OpenTok $sdk = null): Archive
    {
        $sdk ??= self::sdk();
        $deadline = microtime(true) + self::SETTLE_TIMEOUT;
        do {
            $archive = $sdk->getArchive($archiveId);
            if (in_array($archive->status, ['available', 'failed', 'deleted'], true)) {
                return $archive;
            }
            usleep(200000);
        } while (microtime(true) < $deadline);
        self::fail("archive $archiveId is still {$archive->status} after " . self::SETTLE_TIMEOUT . ' s');
    }

    /** Downloads an available archive through its url: the whole file, of its size and type. */
    private static function download(Archive $archive, string $contentType): string
    {
        self::assertIsString($archive->url);
        self::assertStringStartsWith(self::server()->url . '/archive-downloads/' . $archive->id . '/', $archive->url);
        $answer = self::fetch($archive->url);
        self::assertSame(200, $answer['status']);
        self::assertSame($contentType, $answer['headers']['content-type']);
        self::assertSame($archive->size, strlen($answer['body']));
        self::assertSame((string) $archive->size, $answer['headers']['content-length']);
        if ($archive->sha256sum !== null) {
            self::assertSame($archive->sha256sum, hash('sha256', $answer['body']));
        }
        return $answer['body'];
    }

    /** @return array{status: int, headers: array<string, string>, body: string} a GET without credentials */
    private static function fetch(string $url): array
    {
        $headers = [];
        $curl = curl_init($url);
        curl_setopt_array($curl, [
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_TIMEOUT => 20,
            CURLOPT_HEADERFUNCTION => static function ($c, string $line) use (&$headers): int {
                if (str_contains($line, ':')) {
                    [$name, $value] = explode(':', $line, 2);
                    $headers[strtolower(trim($name))] = trim($value);
                }
                return strlen($line);
            },
        ]);
        $body = curl_exec($curl);
        self::assertIsString($body, curl_error($curl));
        return ['status' => (int) curl_getinfo($curl, CURLINFO_RESPONSE_CODE), 'headers' => $headers, 'body' => $body];
    }

    private static function failure(callable $call): \Colloquy\Exception\ApiException
    {
        try {
            $call();
        } catch (\Colloquy\Exception\ApiException $e) {
            return $e;
        }
        self::fail('the call succeeded');
    }
}
