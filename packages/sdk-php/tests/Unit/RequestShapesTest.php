<?php

// The exact request every SDK call sends (method, path, query, headers, body), recorded by the stub
// in tests/start-server.mjs, checked against the REST reference (§1.1–§1.7); and how the answers
// become Archive, ArchiveList, Stream, StreamList, Connection and ConnectionList objects. These
// cover the calls that need a live call (archives, streams) until the server can answer them.

declare(strict_types=1);

namespace Colloquy\Tests\Unit;

use Colloquy\Archive;
use Colloquy\ArchiveMode;
use Colloquy\Layout;
use Colloquy\MediaMode;
use Colloquy\OutputMode;
use Colloquy\StreamMode;
use Colloquy\Tests\Support\TestCase;

final class RequestShapesTest extends TestCase
{
    private const ARCHIVE_ID = 'b40ef09b-3811-4726-b508-e41a0f96c68f';
    private static string $sessionId;

    public static function setUpBeforeClass(): void
    {
        self::$sessionId = self::sessionIdOf(self::server()->apiKey);
    }

    /** @return array<string, mixed> */
    private static function archiveJson(array $overrides = []): array
    {
        return $overrides + [
            'id' => self::ARCHIVE_ID,
            'sessionId' => self::$sessionId,
            'name' => 'Stand-up',
            'status' => 'started',
            'reason' => '',
            'createdAt' => 1700000000000,
            'updatedAt' => 1700000000000,
            'duration' => 0,
            'size' => 0,
            'partnerId' => 47000001,
            'projectId' => 47000001,
            'hasAudio' => true,
            'hasVideo' => true,
            'outputMode' => 'composed',
            'streamMode' => 'auto',
            'resolution' => '640x480',
            'url' => null,
            'streams' => [],
        ];
    }

    /**
     * @param array<string, mixed>|null $json the expected JSON body, null for none
     * @return array{method: string, path: string, headers: array<string, string>, body: string}
     */
    private static function assertRequest(string $method, string $path, ?array $json): array
    {
        $request = self::onlyRequest();
        self::assertSame($method, $request['method']);
        self::assertSame($path, $request['path']);
        if ($json === null) {
            self::assertSame('', $request['body']);
            self::assertArrayNotHasKey('content-type', $request['headers']);
        } else {
            self::assertSame('application/json', $request['headers']['content-type']);
            self::assertSame($json, json_decode($request['body'], true, 512, JSON_THROW_ON_ERROR));
            // An object, never a JSON array, even when empty.
            self::assertStringStartsWith('{', $request['body']);
        }
        self::assertSame('application/json', $request['headers']['accept']);
        self::assertArrayNotHasKey('expect', $request['headers']);
        return $request;
    }

    public function testProjectCallsAreSignedWithAnHs256RestJwt(): void
    {
        self::server()->stubRespond(['status' => 200, 'body' => ['count' => 0, 'items' => []]]);
        $before = time();
        self::stubSdk()->listArchives();
        $request = self::onlyRequest();
        self::assertMatchesRegularExpression('~^Colloquy-PHP-SDK/0\.1\.0 php/8\.\d+$~', $request['headers']['user-agent']);
        self::assertArrayNotHasKey('authorization', $request['headers']);
        $jwt = self::decodeJwt($request['headers']['x-opentok-auth']);
        self::assertSame(['alg' => 'HS256', 'typ' => 'JWT'], $jwt['header']);
        self::assertSame(self::server()->apiKey, $jwt['claims']['iss']);
        self::assertSame('project', $jwt['claims']['ist']);
        self::assertGreaterThanOrEqual($before, $jwt['claims']['iat']);
        self::assertSame(300, $jwt['claims']['exp'] - $jwt['claims']['iat']);
        self::assertMatchesRegularExpression('/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/', $jwt['claims']['jti']);
        self::assertTrue(hash_equals(hash_hmac('sha256', $jwt['input'], self::server()->apiSecret, true), $jwt['signature']));
    }

    public function testApplicationCallsAreSignedWithAnRs256BearerJwt(): void
    {
        $s = self::server();
        self::server()->stubRespond(['status' => 200, 'body' => ['count' => 0, 'items' => []]]);
        $app = new \Colloquy\OpenTok($s->applicationId, $s->privateKeyPem, ['apiUrl' => $s->stubUrl]);
        $app->listArchives();
        $request = self::onlyRequest();
        self::assertSame('/v2/project/' . $s->applicationId . '/archive', $request['path']);
        self::assertArrayNotHasKey('x-opentok-auth', $request['headers']);
        self::assertMatchesRegularExpression('/^Bearer [\w-]+\.[\w-]+\.[\w-]+$/', $request['headers']['authorization']);
        $jwt = self::decodeJwt(substr($request['headers']['authorization'], 7));
        self::assertSame('RS256', $jwt['header']['alg']);
        self::assertSame($s->applicationId, $jwt['claims']['application_id']);
        self::assertSame(900, $jwt['claims']['exp'] - $jwt['claims']['iat']);
        $publicKey = openssl_pkey_get_details(openssl_pkey_get_private($s->privateKeyPem))['key'];
        self::assertSame(1, openssl_verify($jwt['input'], $jwt['signature'], $publicKey, OPENSSL_ALGO_SHA256));
    }

    public function testUserAgentCarriesTheAppNameWhenGiven(): void
    {
        self::server()->stubRespond(['status' => 200, 'body' => ['count' => 0, 'items' => []]]);
        self::stubSdk(['app' => ['name' => 'my-app', 'version' => '2.1']])->listArchives();
        self::assertStringEndsWith(' my-app/2.1', self::onlyRequest()['headers']['user-agent']);
    }

    public function testConnectAudioPostsTheWebsocketAndStopPostsToItsId(): void
    {
        $id = '7d3c2b1a-0f9e-4d8c-b7a6-5e4d3c2b1a09';
        self::server()->stubRespond(['status' => 200, 'body' => ['id' => $id, 'connectionId' => 'conn-9']]);
        $connector = self::stubSdk()->connectAudio(self::$sessionId, 'T1==token', ['uri' => 'wss://bot.example.com/audio', 'streams' => ['s-1'], 'headers' => ['k' => 'v'], 'audioRate' => 16000, 'bidirectional' => true]);
        self::assertRequest('POST', '/v2/project/' . self::server()->apiKey . '/connect', [
            'sessionId' => self::$sessionId,
            'token' => 'T1==token',
            'websocket' => ['uri' => 'wss://bot.example.com/audio', 'streams' => ['s-1'], 'headers' => ['k' => 'v'], 'audioRate' => 16000, 'bidirectional' => true],
        ]);
        self::assertSame(['id' => $id, 'connectionId' => 'conn-9'], $connector);

        self::server()->stubRespond(['status' => 200, 'body' => null]);
        self::assertTrue(self::stubSdk()->stopAudioConnection($id));
        self::assertRequest('POST', '/v2/project/' . self::server()->apiKey . '/connect/' . $id . '/stop', null);

        $this->expectException(\Colloquy\Exception\InvalidArgumentException::class);
        self::stubSdk()->connectAudio(self::$sessionId, 'T1==token', ['uri' => 'https://not-a-websocket.example.com/']);
    }

    public function testDialPostsToCallAndPlayDtmfToTheConnection(): void
    {
        $id = '2f1c6a4e-7e43-4a4b-9d5b-0c8f6e2b1a11';
        self::server()->stubRespond(['status' => 200, 'body' => ['id' => $id, 'connectionId' => 'conn-1', 'streamId' => 'stream-1']]);
        $call = self::stubSdk()->dial(self::$sessionId, 'T1==token', 'sip:+15550100@pbx.example.com', ['auth' => ['username' => 'u', 'password' => 'p'], 'observeForceMute' => true]);
        self::assertRequest('POST', '/v2/project/' . self::server()->apiKey . '/call', [
            'sessionId' => self::$sessionId,
            'token' => 'T1==token',
            'sip' => ['uri' => 'sip:+15550100@pbx.example.com', 'auth' => ['username' => 'u', 'password' => 'p'], 'observeForceMute' => true],
        ]);
        self::assertSame([$id, 'conn-1', 'stream-1'], [$call->id, $call->connectionId, $call->streamId]);

        self::server()->stubRespond(['status' => 200, 'body' => null]);
        self::assertTrue(self::stubSdk()->playDTMF(self::$sessionId, '12#p3', 'conn-1'));
        self::assertRequest('POST', '/v2/project/' . self::server()->apiKey . '/session/' . self::$sessionId . '/connection/conn-1/play-dtmf', ['digits' => '12#p3']);

        $this->expectException(\Colloquy\Exception\InvalidArgumentException::class);
        self::stubSdk()->playDTMF(self::$sessionId, '12x');
    }

    public function testCreateSessionSendsTheForm(): void
    {
        self::server()->stubRespond(['status' => 200, 'body' => [['session_id' => self::$sessionId, 'project_id' => '47000001']]]);
        $session = self::stubSdk()->createSession([
            'mediaMode' => MediaMode::ROUTED,
            'archiveMode' => ArchiveMode::ALWAYS,
            'location' => '10.0.0.1',
            'archiveName' => 'Daily',
            'archiveResolution' => '1920x1080',
        ]);
        self::assertSame(self::$sessionId, $session->getSessionId());
        $request = self::onlyRequest();
        self::assertSame('POST', $request['method']);
        self::assertSame('/session/create', $request['path']);
        self::assertSame('application/x-www-form-urlencoded', $request['headers']['content-type']);
        self::assertSame('application/json', $request['headers']['accept']);
        self::assertSame('p2p.preference=disabled&archiveMode=always&e2ee=false&location=10.0.0.1&archiveName=Daily&archiveResolution=1920x1080', $request['body']);

        self::server()->stubRespond(['status' => 200, 'body' => [['session_id' => self::$sessionId]]]);
        self::stubSdk()->createSession(['e2ee' => true]);
        self::assertSame('p2p.preference=disabled&archiveMode=manual&e2ee=true', self::onlyRequest()['body']);

        self::server()->stubRespond(['status' => 200, 'body' => [['session_id' => self::$sessionId]]]);
        self::stubSdk()->createSession();
        self::assertSame('p2p.preference=disabled&archiveMode=manual&e2ee=false', self::onlyRequest()['body']);
    }

    public function testStartArchiveWithDefaults(): void
    {
        self::server()->stubRespond(['status' => 200, 'body' => self::archiveJson()]);
        $archive = self::stubSdk()->startArchive(self::$sessionId);
        self::assertRequest('POST', self::projectPath('archive'), [
            'sessionId' => self::$sessionId,
            'hasAudio' => true,
            'hasVideo' => true,
            'outputMode' => 'composed',
            'streamMode' => 'auto',
        ]);
        self::assertInstanceOf(Archive::class, $archive);
        self::assertSame(self::ARCHIVE_ID, $archive->id);
        self::assertSame('started', $archive->status);
        self::assertSame(47000001, $archive->partnerId);
        self::assertSame(1700000000000, $archive->createdAt);
        self::assertTrue($archive->hasAudio);
        self::assertNull($archive->url);
        self::assertNull($archive->notAField);
        self::assertTrue(isset($archive->id));
        self::assertFalse(isset($archive->url));
        self::assertSame(self::archiveJson(), $archive->toArray());
        self::assertSame(self::archiveJson(), json_decode(json_encode($archive), true));
    }

    public function testStartArchiveWithEveryOption(): void
    {
        self::server()->stubRespond(['status' => 200, 'body' => self::archiveJson(['name' => 'All', 'streamMode' => 'manual'])]);
        self::stubSdk()->startArchive(self::$sessionId, [
            'name' => 'All',
            'hasAudio' => false,
            'hasVideo' => true,
            'outputMode' => OutputMode::COMPOSED,
            'streamMode' => StreamMode::MANUAL,
            'resolution' => '1280x720',
            'layout' => Layout::getBestFit()->setScreenshareType(Layout::LAYOUT_PIP),
            'maxBitrate' => 2000000,
            'multiArchiveTag' => 'second',
            'hasTranscription' => true,
            'transcriptionProperties' => ['primaryLanguageCode' => 'en-US', 'hasSummary' => true],
        ]);
        self::assertRequest('POST', self::projectPath('archive'), [
            'sessionId' => self::$sessionId,
            'hasAudio' => false,
            'hasVideo' => true,
            'outputMode' => 'composed',
            'streamMode' => 'manual',
            'name' => 'All',
            'resolution' => '1280x720',
            'layout' => ['type' => 'bestFit', 'screenshareType' => 'pip'],
            'maxBitrate' => 2000000,
            'multiArchiveTag' => 'second',
            'hasTranscription' => true,
            'transcriptionProperties' => ['primaryLanguageCode' => 'en-US', 'hasSummary' => true],
        ]);
    }

    public function testStartIndividualArchiveAndTheOldNameSignature(): void
    {
        self::server()->stubRespond(['status' => 200, 'body' => self::archiveJson(['outputMode' => 'individual', 'resolution' => null])]);
        self::stubSdk()->startArchive(self::$sessionId, ['outputMode' => OutputMode::INDIVIDUAL, 'quantizationParameter' => null]);
        self::assertRequest('POST', self::projectPath('archive'), [
            'sessionId' => self::$sessionId, 'hasAudio' => true, 'hasVideo' => true, 'outputMode' => 'individual', 'streamMode' => 'auto',
        ]);

        self::server()->stubRespond(['status' => 200, 'body' => self::archiveJson()]);
        self::stubSdk()->startArchive(self::$sessionId, 'Just a name');
        self::assertSame('Just a name', json_decode(self::onlyRequest()['body'], true)['name']);

        self::server()->stubRespond(['status' => 200, 'body' => self::archiveJson()]);
        self::stubSdk()->startArchive(self::$sessionId, ['quantizationParameter' => 25, 'layout' => ['type' => 'custom', 'stylesheet' => 'stream.focus { width: 100%; }']]);
        $body = json_decode(self::onlyRequest()['body'], true);
        self::assertSame(25, $body['quantizationParameter']);
        self::assertSame(['type' => 'custom', 'stylesheet' => 'stream.focus { width: 100%; }'], $body['layout']);
    }

    public function testStopArchiveSendsNoBodyAndUpdatesTheArchive(): void
    {
        self::server()->stubRespond(['status' => 200, 'body' => self::archiveJson(['status' => 'stopped', 'duration' => 42])]);
        $archive = self::stubSdk()->stopArchive(self::ARCHIVE_ID);
        $request = self::assertRequest('POST', self::projectPath('archive/' . self::ARCHIVE_ID . '/stop'), null);
        self::assertSame('0', $request['headers']['content-length']);
        self::assertSame('stopped', $archive->status);
        self::assertSame(42, $archive->duration);

        // Through the Archive object, as in the OpenTok PHP SDK.
        self::server()->stubRespond(['status' => 200, 'body' => self::archiveJson()]);
        $archive = self::stubSdk()->getArchive(self::ARCHIVE_ID);
        self::assertRequest('GET', self::projectPath('archive/' . self::ARCHIVE_ID), null);
        self::server()->stubRespond(['status' => 200, 'body' => self::archiveJson(['status' => 'stopped'])]);
        self::assertSame($archive, $archive->stop());
        self::assertSame('stopped', $archive->status);
        self::assertRequest('POST', self::projectPath('archive/' . self::ARCHIVE_ID . '/stop'), null);
    }

    public function testDeleteArchive(): void
    {
        self::server()->stubRespond(['status' => 204]);
        self::assertTrue(self::stubSdk()->deleteArchive(self::ARCHIVE_ID));
        self::assertRequest('DELETE', self::projectPath('archive/' . self::ARCHIVE_ID), null);

        self::server()->stubRespond(['status' => 200, 'body' => self::archiveJson(['status' => 'available'])], ['status' => 204]);
        $archive = self::stubSdk()->getArchive(self::ARCHIVE_ID);
        self::assertTrue($archive->delete());
        self::assertTrue($archive->isDeleted());
        $requests = self::server()->stubRequests();
        self::assertSame(['GET', 'DELETE'], array_column($requests, 'method'));
    }

    public function testListArchivesQueryAndItems(): void
    {
        $second = self::archiveJson(['id' => 'a40ef09b-3811-4726-b508-e41a0f96c68f', 'status' => 'available', 'url' => 'http://127.0.0.1/archive.mp4']);
        self::server()->stubRespond(['status' => 200, 'body' => ['count' => 7, 'items' => [self::archiveJson(), $second]]]);
        $list = self::stubSdk()->listArchives(2, 2, self::$sessionId);
        self::assertRequest('GET', self::projectPath('archive?offset=2&count=2&sessionId=' . self::$sessionId), null);
        self::assertSame(7, $list->totalCount());
        self::assertCount(2, $list);
        self::assertSame([self::ARCHIVE_ID, $second['id']], array_map(fn (Archive $a) => $a->id, $list->getItems()));
        self::assertSame('http://127.0.0.1/archive.mp4', iterator_to_array($list)[1]->url);

        // Defaults are left to the server, as the OpenTok PHP SDK leaves them.
        self::server()->stubRespond(['status' => 200, 'body' => ['count' => 0, 'items' => []]]);
        self::stubSdk()->listArchives();
        self::assertRequest('GET', self::projectPath('archive'), null);
    }

    public function testSetArchiveLayout(): void
    {
        $layouts = [
            [Layout::getBestFit(), ['type' => 'bestFit']],
            [Layout::getPIP(), ['type' => 'pip']],
            [Layout::getVerticalPresentation(), ['type' => 'verticalPresentation']],
            [Layout::getHorizontalPresentation(), ['type' => 'horizontalPresentation']],
            [Layout::createCustom(['stylesheet' => 'stream { float: left; }']), ['type' => 'custom', 'stylesheet' => 'stream { float: left; }']],
            [['type' => 'bestFit', 'screenshareType' => 'horizontalPresentation'], ['type' => 'bestFit', 'screenshareType' => 'horizontalPresentation']],
        ];
        foreach ($layouts as [$layout, $json]) {
            self::server()->stubRespond(['status' => 200, 'body' => ['code' => 200, 'message' => 'OK']]);
            self::stubSdk()->setArchiveLayout(self::ARCHIVE_ID, $layout);
            self::assertRequest('PUT', self::projectPath('archive/' . self::ARCHIVE_ID . '/layout'), $json);
        }
    }

    public function testAddAndRemoveArchiveStreams(): void
    {
        self::server()->stubRespond(['status' => 204]);
        self::assertTrue(self::stubSdk()->addStreamToArchive(self::ARCHIVE_ID, 'stream-1', true, false));
        self::assertRequest('PATCH', self::projectPath('archive/' . self::ARCHIVE_ID . '/streams'), ['addStream' => 'stream-1', 'hasAudio' => true, 'hasVideo' => false]);

        self::server()->stubRespond(['status' => 204]);
        self::assertTrue(self::stubSdk()->addStreamToArchive(self::ARCHIVE_ID, 'stream-2'));
        self::assertRequest('PATCH', self::projectPath('archive/' . self::ARCHIVE_ID . '/streams'), ['addStream' => 'stream-2', 'hasAudio' => true, 'hasVideo' => true]);

        self::server()->stubRespond(['status' => 204]);
        self::assertTrue(self::stubSdk()->removeStreamFromArchive(self::ARCHIVE_ID, 'stream-1'));
        self::assertRequest('PATCH', self::projectPath('archive/' . self::ARCHIVE_ID . '/streams'), ['removeStream' => 'stream-1']);

        // Through the Archive object.
        $archive = new Archive(self::archiveJson(['streamMode' => 'manual']), self::stubSdk());
        self::server()->stubRespond(['status' => 204]);
        $archive->addStreamToArchive('stream-3', false, true);
        self::assertRequest('PATCH', self::projectPath('archive/' . self::ARCHIVE_ID . '/streams'), ['addStream' => 'stream-3', 'hasAudio' => false, 'hasVideo' => true]);
        self::server()->stubRespond(['status' => 204]);
        $archive->removeStreamFromArchive('stream-3');
        self::assertRequest('PATCH', self::projectPath('archive/' . self::ARCHIVE_ID . '/streams'), ['removeStream' => 'stream-3']);
        self::server()->stubRespond(['status' => 200]);
        $archive->setLayout(Layout::getPIP());
        self::assertRequest('PUT', self::projectPath('archive/' . self::ARCHIVE_ID . '/layout'), ['type' => 'pip']);
    }

    public function testSignalToTheSessionAndToOneConnection(): void
    {
        $session = rawurlencode(self::$sessionId);
        self::server()->stubRespond(['status' => 204]);
        self::stubSdk()->signal(self::$sessionId, ['type' => 'chat', 'data' => 'héllo']);
        self::assertRequest('POST', self::projectPath("session/$session/signal"), ['type' => 'chat', 'data' => 'héllo']);

        self::server()->stubRespond(['status' => 204]);
        self::stubSdk()->signal(self::$sessionId, ['data' => ''], 'conn/1');
        self::assertRequest('POST', self::projectPath("session/$session/connection/conn%2F1/signal"), ['data' => '']);

        // An empty connection ID means the whole session, as in the OpenTok PHP SDK.
        self::server()->stubRespond(['status' => 204]);
        self::stubSdk()->signal(self::$sessionId, ['data' => 'x', 'type' => null], '');
        self::assertRequest('POST', self::projectPath("session/$session/signal"), ['data' => 'x']);
    }

    public function testForceDisconnect(): void
    {
        self::server()->stubRespond(['status' => 204]);
        self::assertTrue(self::stubSdk()->forceDisconnect(self::$sessionId, 'conn-1'));
        $request = self::assertRequest('DELETE', self::projectPath('session/' . self::$sessionId . '/connection/conn-1'), null);
        self::assertSame('0', $request['headers']['content-length']);
    }

    public function testForceMuteStreamAndAll(): void
    {
        $session = self::$sessionId;
        self::server()->stubRespond(['status' => 200, 'body' => ['code' => 200, 'message' => 'OK']]);
        self::assertTrue(self::stubSdk()->forceMuteStream($session, 'stream-1'));
        self::assertRequest('POST', self::projectPath("session/$session/stream/stream-1/mute"), null);

        self::server()->stubRespond(['status' => 200, 'body' => ['code' => 200, 'message' => 'OK']]);
        self::assertTrue(self::stubSdk()->forceMuteAll($session, ['excludedStreams' => ['stream-1', 'stream-2']]));
        self::assertRequest('POST', self::projectPath("session/$session/mute"), ['active' => true, 'excludedStreamIds' => ['stream-1', 'stream-2']]);

        self::server()->stubRespond(['status' => 200, 'body' => ['code' => 200, 'message' => 'OK']]);
        self::stubSdk()->forceMuteAll($session, ['excludedStreamIds' => ['stream-3']]);
        self::assertRequest('POST', self::projectPath("session/$session/mute"), ['active' => true, 'excludedStreamIds' => ['stream-3']]);

        self::server()->stubRespond(['status' => 200, 'body' => ['code' => 200, 'message' => 'OK']]);
        self::stubSdk()->forceMuteAll($session);
        self::assertRequest('POST', self::projectPath("session/$session/mute"), ['active' => true, 'excludedStreamIds' => []]);

        self::server()->stubRespond(['status' => 200, 'body' => ['code' => 200, 'message' => 'OK']]);
        self::assertTrue(self::stubSdk()->disableForceMute($session));
        self::assertRequest('POST', self::projectPath("session/$session/mute"), ['active' => false]);
    }

    public function testListConnectionsBuildsConnections(): void
    {
        $session = self::$sessionId;
        self::server()->stubRespond(['status' => 200, 'body' => [
            'count' => 2,
            'projectId' => '47000001',
            'sessionId' => $session,
            'items' => [
                ['connectionId' => 'c1', 'connectionState' => 'Connected', 'createdAt' => 1700000000001],
                ['connectionId' => 'c2', 'connectionState' => 'Connecting', 'createdAt' => 1700000000002],
            ],
        ]]);
        $list = self::stubSdk()->listConnections($session);
        self::assertRequest('GET', self::projectPath("session/$session/connection/"), null);
        self::assertSame(2, $list->totalCount());
        self::assertSame($session, $list->getSessionId());
        $items = iterator_to_array($list);
        self::assertSame(['c1', 'c2'], array_map(fn ($c) => $c->connectionId, $items));
        self::assertSame('Connecting', $items[1]->connectionState);
        self::assertSame(1700000000002, $items[1]->createdAt);
    }

    public function testStreamsBuildStreams(): void
    {
        $session = self::$sessionId;
        $stream = ['id' => 's1', 'videoType' => 'screen', 'name' => 'Ada’s screen', 'layoutClassList' => ['full', 'focus']];
        self::server()->stubRespond(['status' => 200, 'body' => $stream]);
        $got = self::stubSdk()->getStream($session, 's1');
        self::assertRequest('GET', self::projectPath("session/$session/stream/s1"), null);
        self::assertSame(['s1', 'screen', 'Ada’s screen', ['full', 'focus']], [$got->id, $got->videoType, $got->name, $got->layoutClassList]);
        self::assertSame($stream, $got->jsonSerialize());

        self::server()->stubRespond(['status' => 200, 'body' => ['count' => 1, 'items' => [$stream]]]);
        $list = self::stubSdk()->listStreams($session);
        self::assertRequest('GET', self::projectPath("session/$session/stream/"), null);
        self::assertSame(1, $list->totalCount());
        self::assertSame('s1', $list->getItems()[0]->id);
    }

    public function testSetStreamClassListsAndUpdateStream(): void
    {
        $session = self::$sessionId;
        self::server()->stubRespond(['status' => 200]);
        self::stubSdk()->setStreamClassLists($session, [
            ['id' => 's1', 'layoutClassList' => ['focus']],
            ['id' => 's2', 'layoutClassList' => []],
        ]);
        self::assertRequest('PUT', self::projectPath("session/$session/stream"), ['items' => [
            ['id' => 's1', 'layoutClassList' => ['focus']],
            ['id' => 's2', 'layoutClassList' => []],
        ]]);
        self::assertSame('{"items":[{"id":"s1","layoutClassList":["focus"]},{"id":"s2","layoutClassList":[]}]}', self::server()->stubRequests()[0]['body']);

        self::server()->stubRespond(['status' => 200]);
        self::stubSdk()->updateStream($session, 's1', ['layoutClassList' => ['full']]);
        self::assertRequest('PUT', self::projectPath("session/$session/stream/s1"), ['layoutClassList' => ['full']]);
    }
}
