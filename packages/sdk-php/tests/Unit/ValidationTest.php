<?php

// Arguments refused before any request is sent: each case throws InvalidArgumentException with a
// message naming the problem, and the stub sees nothing.

declare(strict_types=1);

namespace Colloquy\Tests\Unit;

use Colloquy\Exception\InvalidArgumentException;
use Colloquy\Layout;
use Colloquy\OpenTok;
use Colloquy\OutputMode;
use Colloquy\Tests\Support\TestCase;

final class ValidationTest extends TestCase
{
    private const ARCHIVE = 'b40ef09b-3811-4726-b508-e41a0f96c68f';

    /**
     * @dataProvider refusedCalls
     * @param callable(OpenTok, string): mixed $call
     */
    public function testRefusedBeforeSending(callable $call, string $message): void
    {
        self::server()->stubRespond();
        $sessionId = self::sessionIdOf(self::server()->apiKey);
        try {
            $call(self::stubSdk(), $sessionId);
            self::fail('the call was not refused');
        } catch (InvalidArgumentException $e) {
            self::assertStringContainsString($message, $e->getMessage());
        }
        self::assertSame([], self::server()->stubRequests(), 'nothing was sent');
    }

    /** @return array<string, array{0: callable, 1: string}> */
    public static function refusedCalls(): array
    {
        $other = self::sessionIdOfOtherProject();
        return [
            // Session IDs
            'signal: session of another project' => [fn (OpenTok $o) => $o->signal($other, ['data' => 'x']), 'must belong to the API key'],
            'signal: not a session ID' => [fn (OpenTok $o) => $o->signal('1_abc', ['data' => 'x']), 'is not a valid session ID'],
            'signal: empty session ID' => [fn (OpenTok $o) => $o->signal('', ['data' => 'x']), 'non-empty string'],
            'streams: session of another project' => [fn (OpenTok $o) => $o->listStreams($other), 'must belong to the API key'],
            'connections: too long' => [fn (OpenTok $o) => $o->listConnections(str_repeat('a', 256)), 'longer than 255'],
            'archive: session of another project' => [fn (OpenTok $o) => $o->startArchive($other), 'must belong to the API key'],
            'list archives: session of another project' => [fn (OpenTok $o) => $o->listArchives(0, null, $other), 'must belong to the API key'],

            // Signals
            'signal: no data' => [fn (OpenTok $o, string $s) => $o->signal($s, ['type' => 'chat']), 'The signal data must be a string'],
            'signal: data not a string' => [fn (OpenTok $o, string $s) => $o->signal($s, ['data' => 42]), 'The signal data must be a string'],
            'signal: data over 8 kB' => [fn (OpenTok $o, string $s) => $o->signal($s, ['data' => str_repeat('é', 4097)]), 'at most 8192 bytes, got 8194'],
            'signal: data not UTF-8' => [fn (OpenTok $o, string $s) => $o->signal($s, ['data' => "\xc3"]), 'valid UTF-8'],
            'signal: type too long' => [fn (OpenTok $o, string $s) => $o->signal($s, ['type' => str_repeat('t', 129), 'data' => 'x']), 'at most 128 characters'],
            'signal: type with a space' => [fn (OpenTok $o, string $s) => $o->signal($s, ['type' => 'a b', 'data' => 'x']), 'may only contain'],
            'signal: type not a string' => [fn (OpenTok $o, string $s) => $o->signal($s, ['type' => 5, 'data' => 'x']), 'The signal type must be a string'],
            'signal: unknown key' => [fn (OpenTok $o, string $s) => $o->signal($s, ['data' => 'x', 'to' => 'c1']), 'Unknown signal payload keys: to'],
            'signal: blank connection ID' => [fn (OpenTok $o, string $s) => $o->signal($s, ['data' => 'x'], '  '), 'connection ID must be a non-empty string'],

            // Moderation and streams
            'disconnect: empty connection' => [fn (OpenTok $o, string $s) => $o->forceDisconnect($s, ''), 'connection ID must be a non-empty string'],
            'mute: empty stream' => [fn (OpenTok $o, string $s) => $o->forceMuteStream($s, ''), 'stream ID must be a non-empty string'],
            'mute all: both spellings' => [fn (OpenTok $o, string $s) => $o->forceMuteAll($s, ['excludedStreams' => [], 'excludedStreamIds' => []]), 'not both'],
            'mute all: not a list' => [fn (OpenTok $o, string $s) => $o->forceMuteAll($s, ['excludedStreams' => 's1']), 'list of stream IDs'],
            'mute all: bad stream ID' => [fn (OpenTok $o, string $s) => $o->forceMuteAll($s, ['excludedStreams' => [42]]), 'excluded stream ID'],
            'mute all: unknown option' => [fn (OpenTok $o, string $s) => $o->forceMuteAll($s, ['active' => true]), 'Unknown mute option: active'],
            'get stream: empty' => [fn (OpenTok $o, string $s) => $o->getStream($s, ''), 'stream ID'],
            'class lists: not a list' => [fn (OpenTok $o, string $s) => $o->setStreamClassLists($s, ['s1' => ['focus']]), 'must be a list'],
            'class lists: no id' => [fn (OpenTok $o, string $s) => $o->setStreamClassLists($s, [['layoutClassList' => []]]), 'stream ID'],
            'class lists: no list' => [fn (OpenTok $o, string $s) => $o->setStreamClassLists($s, [['id' => 's1']]), 'needs a "layoutClassList"'],
            'class lists: bad class' => [fn (OpenTok $o, string $s) => $o->setStreamClassLists($s, [['id' => 's1', 'layoutClassList' => [1]]]), 'Layout class names'],
            'update stream: unknown property' => [fn (OpenTok $o, string $s) => $o->updateStream($s, 's1', ['name' => 'x']), 'Unknown stream property: name'],

            // Archives
            'archive: both false' => [fn (OpenTok $o, string $s) => $o->startArchive($s, ['hasAudio' => false, 'hasVideo' => false]), 'cannot both be false'],
            'archive: hasAudio not bool' => [fn (OpenTok $o, string $s) => $o->startArchive($s, ['hasAudio' => 'yes']), 'hasAudio must be true or false'],
            'archive: bad resolution' => [fn (OpenTok $o, string $s) => $o->startArchive($s, ['resolution' => '800x600']), 'The resolution must be one of'],
            'archive: resolution for individual' => [fn (OpenTok $o, string $s) => $o->startArchive($s, ['outputMode' => OutputMode::INDIVIDUAL, 'resolution' => '640x480']), 'only be set for composed'],
            'archive: layout for individual' => [fn (OpenTok $o, string $s) => $o->startArchive($s, ['outputMode' => OutputMode::INDIVIDUAL, 'layout' => Layout::getPIP()]), 'only be set for composed'],
            'archive: bad output mode' => [fn (OpenTok $o, string $s) => $o->startArchive($s, ['outputMode' => 'mixed']), 'outputMode must be'],
            'archive: bad stream mode' => [fn (OpenTok $o, string $s) => $o->startArchive($s, ['streamMode' => 'some']), 'streamMode must be'],
            'archive: bitrate and QP' => [fn (OpenTok $o, string $s) => $o->startArchive($s, ['maxBitrate' => 500000, 'quantizationParameter' => 20]), 'not both'],
            'archive: bitrate too low' => [fn (OpenTok $o, string $s) => $o->startArchive($s, ['maxBitrate' => 1000]), 'maxBitrate must be an integer from 100000 to 6000000'],
            'archive: QP too high' => [fn (OpenTok $o, string $s) => $o->startArchive($s, ['quantizationParameter' => 41]), 'quantizationParameter must be an integer from 15 to 40'],
            'archive: bad layout type' => [fn (OpenTok $o, string $s) => $o->startArchive($s, ['layout' => ['type' => 'grid']]), 'Unknown layout type'],
            'archive: layout not a layout' => [fn (OpenTok $o, string $s) => $o->startArchive($s, ['layout' => 'pip']), 'must be a Colloquy\Layout'],
            'archive: empty tag' => [fn (OpenTok $o, string $s) => $o->startArchive($s, ['multiArchiveTag' => '']), 'multiArchiveTag'],
            'archive: name not a string' => [fn (OpenTok $o, string $s) => $o->startArchive($s, ['name' => 42]), 'archive name must be a string'],
            'archive: transcription props without transcription' => [fn (OpenTok $o, string $s) => $o->startArchive($s, ['transcriptionProperties' => ['hasSummary' => true]]), 'needs hasTranscription'],
            'archive: bad language' => [fn (OpenTok $o, string $s) => $o->startArchive($s, ['hasTranscription' => true, 'transcriptionProperties' => ['primaryLanguageCode' => 'english']]), 'BCP-47'],
            'archive: unknown option' => [fn (OpenTok $o, string $s) => $o->startArchive($s, ['resoluton' => '640x480']), 'Unknown archive option: resoluton'],
            'stop: not a UUID' => [fn (OpenTok $o) => $o->stopArchive('archive-1'), 'archive ID must be a UUID'],
            'get: not a UUID' => [fn (OpenTok $o) => $o->getArchive('../session'), 'archive ID must be a UUID'],
            'delete: not a UUID' => [fn (OpenTok $o) => $o->deleteArchive(''), 'archive ID must be a UUID'],
            'layout: not a UUID' => [fn (OpenTok $o) => $o->setArchiveLayout('x', Layout::getPIP()), 'archive ID must be a UUID'],
            'add stream: both false' => [fn (OpenTok $o) => $o->addStreamToArchive(self::ARCHIVE, 's1', false, false), 'cannot both be false'],
            'add stream: empty stream' => [fn (OpenTok $o) => $o->addStreamToArchive(self::ARCHIVE, ''), 'stream ID'],
            'remove stream: not a UUID' => [fn (OpenTok $o) => $o->removeStreamFromArchive('nope', 's1'), 'archive ID must be a UUID'],
            'list: negative offset' => [fn (OpenTok $o) => $o->listArchives(-1), 'offset must be 0 or more'],
            'list: count 0' => [fn (OpenTok $o) => $o->listArchives(0, 0), 'count must be an integer from 1 to 1000'],
            'list: count 1001' => [fn (OpenTok $o) => $o->listArchives(0, 1001), 'count must be an integer from 1 to 1000'],
        ];
    }

    private static function sessionIdOfOtherProject(): string
    {
        return '1_' . rtrim(strtr(base64_encode('1~12345678~~1700000000000~abcdefghijklmnopqrstuvwx~~'), '+/', '-_'), '=');
    }

    public function testLayouts(): void
    {
        self::assertSame('{"type":"bestFit","screenshareType":"verticalPresentation"}', Layout::getBestFit()->setScreenshareType(Layout::LAYOUT_VERTICAL)->toJson());
        self::assertSame(['type' => 'custom', 'stylesheet' => 'a'], Layout::fromData(['type' => 'custom', 'stylesheet' => 'a'])->toArray());
        self::assertSame('pip', Layout::fromData(['type' => 'pip'])->getType());
        foreach ([
            fn () => Layout::getPIP()->setScreenshareType(Layout::LAYOUT_BESTFIT),
            fn () => Layout::getBestFit()->setScreenshareType('custom'),
            fn () => Layout::createCustom([]),
            fn () => Layout::createCustom(['stylesheet' => '  ']),
            fn () => Layout::fromData(['type' => 'pip', 'stylesheet' => 'x']),
            fn () => Layout::fromData([]),
        ] as $i => $case) {
            try {
                $case();
                self::fail("layout case $i was accepted");
            } catch (InvalidArgumentException $e) {
                self::assertNotSame('', $e->getMessage());
            }
        }
    }
}
