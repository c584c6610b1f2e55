<?php

// The requests the real OpenTok PHP SDK (opentok/opentok 4.x, Guzzle) sends, replayed by hand
// against our server with the same method, path, headers and body (its Util/Client.php), and the
// tokens it makes (OpenTok::generateToken / returnLegacyToken): an app that keeps that SDK and
// points it at Colloquy gets the answers it parses. Reference §0.1, §0.5, §0.6, §3.

declare(strict_types=1);

namespace Colloquy\Tests\Integration;

use Colloquy\MediaMode;
use Colloquy\Tests\Support\TestCase;
use Colloquy\Util\Jwt;
use SimpleXMLElement;

final class OpenTokPhpSdkRequestsTest extends TestCase
{
    private const USER_AGENT = 'User-Agent: OpenTok-PHP-SDK/4.16.0 php/8.2';
    private const JSON = 'Content-Type: application/json';
    private static string $routed;
    private static string $relayed;

    public static function setUpBeforeClass(): void
    {
        self::$routed = self::sdk()->createSession(['mediaMode' => MediaMode::ROUTED])->getSessionId();
        self::$relayed = self::sdk()->createSession()->getSessionId();
    }

    public function testSessionCreateWithoutAcceptAnswersTheXmlItParses(): void
    {
        // createSession: a form with api_key, no Accept header (Guzzle removes curl's), its defaults.
        $key = self::server()->apiKey;
        $response = self::raw('POST', '/session/create', "archiveMode=manual&e2ee=false&p2p.preference=enabled&api_key=$key", [
            self::USER_AGENT,
            'Content-Type: application/x-www-form-urlencoded',
        ]);
        self::assertSame(200, $response['status']);
        self::assertStringContainsString('xml', $response['headers']['content-type']);
        $xml = new SimpleXMLElement($response['body'], LIBXML_NONET);
        $sessionId = (string) $xml->Session->session_id;
        self::assertNotSame('', $sessionId);
        self::assertSame($key, (string) $xml->Session->partner_id);
        self::assertNotSame('', (string) $xml->Session->create_dt);
        self::assertSame('relayed', self::server()->storedSession($sessionId)['mediaMode']);
    }

    public function testAlwaysArchivedSessionCreateAsItSendsIt(): void
    {
        $key = self::server()->apiKey;
        $response = self::raw('POST', '/session/create', "archiveMode=always&e2ee=false&archiveResolution=640x480&p2p.preference=disabled&api_key=$key", [
            'Content-Type: application/x-www-form-urlencoded',
        ]);
        self::assertSame(200, $response['status']);
        $sessionId = (string) (new SimpleXMLElement($response['body']))->Session->session_id;
        $stored = self::server()->storedSession($sessionId);
        self::assertSame(['routed', 'always', '640x480'], [$stored['mediaMode'], $stored['archiveMode'], $stored['archiveResolution']]);
    }

    public function testListsWithTrailingSlashes(): void
    {
        $connections = self::raw('GET', self::projectPath('session/' . self::$routed . '/connection/'), null, [self::USER_AGENT]);
        self::assertSame(200, $connections['status']);
        self::assertSame(['count' => 0, 'projectId' => self::server()->apiKey, 'sessionId' => self::$routed, 'items' => []], json_decode($connections['body'], true));
        self::assertMatchesRegularExpression('~^application/json~', $connections['headers']['content-type']);

        $streams = self::raw('GET', self::projectPath('session/' . self::$routed . '/stream/'), null, [self::USER_AGENT]);
        self::assertSame(['count' => 0, 'items' => []], json_decode($streams['body'], true));
    }

    public function testBodylessCallsWithAJsonContentType(): void
    {
        // stopArchive, deleteArchive and forceDisconnect send Content-Type: application/json and no body.
        $archive = '3c1e9f2a-0000-4000-8000-000000000000';
        foreach ([
            ['POST', "archive/$archive/stop"],
            ['DELETE', "archive/$archive"],
            ['DELETE', 'session/' . self::$routed . '/connection/abc'],
        ] as [$method, $path]) {
            $response = self::raw($method, self::projectPath($path), null, [self::JSON, self::USER_AGENT]);
            self::assertSame(404, $response['status'], "$method $path");
            self::assertIsString(json_decode($response['body'], true)['message']);
        }
    }

    public function testSignalWithItsDefaultEmptyType(): void
    {
        // signal() merges ['type' => '', 'data' => ''] under the caller's payload.
        $response = self::raw('POST', self::projectPath('session/' . self::$routed . '/signal'), '{"type":"","data":"hello"}', [self::JSON]);
        self::assertSame(404, $response['status']);
        self::assertSame('Not found. No clients are actively connected to the OpenTok session.', json_decode($response['body'], true)['message']);
    }

    public function testForceMuteAllWithItsSpelling(): void
    {
        $response = self::raw('POST', self::projectPath('session/' . self::$routed . '/mute'), '{"excludedStreams":["s1"],"active":true}', [self::JSON]);
        self::assertSame(200, $response['status']);
        $response = self::raw('POST', self::projectPath('session/' . self::$routed . '/mute'), '{"active":false}', [self::JSON]);
        self::assertSame(200, $response['status']);
    }

    public function testForceMuteStreamWithNoBodyAtAll(): void
    {
        $response = self::raw('POST', self::projectPath('session/' . self::$routed . '/stream/s1/mute'), null, []);
        self::assertSame(404, $response['status']);
    }

    public function testStreamClassListsAndUpdateStream(): void
    {
        $response = self::raw('PUT', self::projectPath('session/' . self::$routed . '/stream'), '{"items":[]}', [self::JSON]);
        self::assertSame(200, $response['status']);
        $response = self::raw('PUT', self::projectPath('session/' . self::$routed . '/stream/s1'), '{"layoutClassList":["full"]}', [self::JSON]);
        self::assertSame(404, $response['status']);
    }

    public function testStartArchiveWithTheBodyItBuilds(): void
    {
        $body = ['sessionId' => self::$relayed, 'hasVideo' => true, 'hasAudio' => true, 'outputMode' => 'composed', 'streamMode' => 'auto', 'hasTranscription' => false, 'resolution' => '640x480'];
        $response = self::raw('POST', self::projectPath('archive'), json_encode($body), [self::JSON]);
        self::assertSame(409, $response['status']);

        // With a client connected to a routed session it starts, and stops with its bodyless POST.
        $client = self::join(self::$routed);
        $response = self::raw('POST', self::projectPath('archive'), json_encode(['sessionId' => self::$routed, 'name' => 'opentok-php'] + $body), [self::JSON, self::USER_AGENT]);
        self::assertSame(200, $response['status']);
        $started = json_decode($response['body'], true);
        self::assertSame(['started', 'opentok-php', (int) self::server()->apiKey], [$started['status'], $started['name'], $started['partnerId']]);
        $response = self::raw('POST', self::projectPath('archive/' . $started['id'] . '/stop'), null, [self::JSON, self::USER_AGENT]);
        self::assertSame(200, $response['status']);
        self::assertSame('stopped', json_decode($response['body'], true)['status']);

        // Its signal() with the default empty type reaches the client.
        $response = self::raw('POST', self::projectPath('session/' . self::$routed . '/signal'), '{"type":"","data":"from opentok-php"}', [self::JSON]);
        self::assertSame(204, $response['status']);
        self::assertSame('', $client->waitFor('signal', ['data' => 'from opentok-php'])['signalType']);
        $client->leave();

        $list = self::raw('GET', self::projectPath('archive?offset=1&count=5&sessionId=' . self::$routed), null, []);
        self::assertSame(['count' => 1, 'items' => []], json_decode($list['body'], true));
    }

    public function testSipDialOnItsCallPathReachesTheGateway(): void
    {
        // The PHP SDK dials on /call (the others on /dial): the same gateway checks the request.
        $response = self::raw('POST', self::projectPath('call'), json_encode(['sessionId' => self::$routed, 'token' => 'x', 'sip' => ['uri' => 'sip:a@b']]), [self::JSON]);
        self::assertSame(400, $response['status']);
        self::assertStringStartsWith('The token is not valid for this session', json_decode($response['body'], true)['message']);
    }

    public function testItsJwtClientTokenConnects(): void
    {
        // OpenTok::generateToken: no exp unless expireTime is given, `data` and `expireTime` left
        // in the payload as null, the class list urlencoded, a numeric nonce.
        $s = self::server();
        $claims = [
            'iss' => $s->apiKey, 'iat' => time(), 'session_id' => self::$routed, 'role' => 'moderator', 'ist' => 'project',
            'nonce' => mt_rand(), 'scope' => 'session.connect', 'data' => null, 'expireTime' => null, 'initial_layout_class_list' => '',
        ];
        $client = $s->join(self::$routed, Jwt::sign($claims, $s->apiSecret, 'HS256'));
        self::assertSame(['publish', 'subscribe', 'forcedisconnect', 'forceunpublish', 'forcemute'], $client->permissions);
        self::assertSame('', $client->data);
        $client->leave();

        $claims['exp'] = time() + 600;
        $claims['connection_data'] = 'name=Ada';
        unset($claims['expireTime'], $claims['data']);
        $client = $s->join(self::$routed, Jwt::sign($claims, $s->apiSecret, 'HS256'));
        self::assertSame('name=Ada', $client->data);
        $client->leave();
    }

    public function testItsLegacyT1TokenConnects(): void
    {
        // returnLegacyToken: no expire_time unless given, nonce = microtime . mt_rand, an empty
        // initial_layout_class_list from its default [''].
        $s = self::server();
        $createTime = time();
        $nonce = microtime(true) . mt_rand();
        $dataString = 'session_id=' . self::$routed . "&create_time=$createTime&role=publisher&nonce=$nonce"
            . '&connection_data=' . urlencode('user=1 name=Ada') . '&initial_layout_class_list=' . urlencode('');
        $token = 'T1==' . base64_encode('partner_id=' . $s->apiKey . '&sig=' . hash_hmac('sha1', $dataString, $s->apiSecret) . ":$dataString");
        $client = $s->join(self::$routed, $token);
        self::assertSame(['publish', 'subscribe'], $client->permissions);
        self::assertSame('user=1 name=Ada', $client->data);
        $client->leave();
    }
}
