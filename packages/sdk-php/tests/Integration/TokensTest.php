<?php

// Client tokens made by the SDK, proven by joining sessions with them over the signaling WebSocket
// as a browser would: JWT by default, T1 when asked, RS256 in application mode; the role shows in
// the permissions the server grants, the data in what other clients see, the layout classes in the
// client's published streams. Forged tokens and tokens of another session are refused (1004).

declare(strict_types=1);

namespace Colloquy\Tests\Integration;

use Colloquy\Exception\InvalidArgumentException;
use Colloquy\MediaMode;
use Colloquy\OpenTok;
use Colloquy\Role;
use Colloquy\Tests\Support\TestCase;

final class TokensTest extends TestCase
{
    private const PERMISSIONS = [
        Role::SUBSCRIBER => ['subscribe'],
        Role::PUBLISHER_ONLY => ['publish'],
        Role::PUBLISHER => ['publish', 'subscribe'],
        Role::MODERATOR => ['publish', 'subscribe', 'forcedisconnect', 'forceunpublish', 'forcemute'],
    ];

    private static string $sessionId;

    public static function setUpBeforeClass(): void
    {
        self::$sessionId = self::sdk()->createSession(['mediaMode' => MediaMode::ROUTED])->getSessionId();
    }

    public static function tearDownAfterClass(): void
    {
        self::server()->leaveAll();
    }

    public function testDefaultTokenIsAnHs256JwtThatConnects(): void
    {
        $before = time();
        $token = self::sdk()->generateToken(self::$sessionId);
        $jwt = self::decodeJwt($token);
        self::assertSame(['alg' => 'HS256', 'typ' => 'JWT'], $jwt['header']);
        self::assertSame(self::server()->apiKey, $jwt['claims']['iss']);
        self::assertSame('project', $jwt['claims']['ist']);
        self::assertSame('session.connect', $jwt['claims']['scope']);
        self::assertSame(self::$sessionId, $jwt['claims']['session_id']);
        self::assertSame('publisher', $jwt['claims']['role']);
        self::assertGreaterThanOrEqual($before + 86400, $jwt['claims']['expire_time']);
        self::assertLessThanOrEqual(time() + 86400, $jwt['claims']['exp']);

        $client = self::server()->join(self::$sessionId, $token);
        self::assertSame(self::PERMISSIONS[Role::PUBLISHER], $client->permissions);
        self::assertSame('', $client->data);
        self::assertSame('routed', $client->connectResult['mediaMode']);
        self::assertContains($client->connectionId, array_map(
            static fn ($c) => $c->connectionId,
            self::sdk()->listConnections(self::$sessionId)->getItems()
        ));
        $client->leave();
    }

    public function testJwtCarriesEveryOptionToTheServer(): void
    {
        $expire = time() + 3600;
        $data = 'name=Ada & Grace, née “Lovelace” 🎉';
        $token = self::sdk()->generateToken(self::$sessionId, [
            'role' => Role::MODERATOR,
            'expireTime' => $expire,
            'data' => $data,
            'initialLayoutClassList' => ['focus', 'main'],
        ]);
        $claims = self::decodeJwt($token)['claims'];
        self::assertSame($expire, $claims['exp']);
        self::assertSame($expire, $claims['expire_time']);

        $watcher = self::join(self::$sessionId);
        $client = self::server()->join(self::$sessionId, $token);
        self::assertSame(self::PERMISSIONS[Role::MODERATOR], $client->permissions);
        self::assertSame($data, $client->data);
        // Other clients see the data the token carries.
        $created = $watcher->waitFor('connectionCreated', ['connection' => ['connectionId' => $client->connectionId]]);
        self::assertSame($data, $created['connection']['data']);
        // The token's layout classes are the initial classes of the client's streams.
        $streamId = $client->publish(['name' => 'jwt']);
        self::assertSame(['focus', 'main'], self::sdk()->getStream(self::$sessionId, $streamId)->layoutClassList);
        $client->leave();
        $watcher->leave();
    }

    public function testLegacyT1TokenCarriesEveryOptionToTheServer(): void
    {
        $expire = time() + 7200;
        $data = 'user=42&name=Ada Lovelace+1%';
        $token = self::sdk()->generateToken(self::$sessionId, [
            'role' => Role::PUBLISHER,
            'expireTime' => $expire,
            'data' => $data,
            'initialLayoutClassList' => ['full'],
        ], true);
        self::assertStringStartsWith('T1==', $token);
        self::assertMatchesRegularExpression('/^partner_id=' . self::server()->apiKey . '&sig=[0-9a-f]{40}:/', base64_decode(substr($token, 4), true));
        parse_str(explode(':', base64_decode(substr($token, 4), true), 2)[1], $fields);
        self::assertSame((string) $expire, $fields['expire_time']);
        self::assertSame('publisher', $fields['role']);

        $client = self::server()->join(self::$sessionId, $token);
        self::assertSame(self::PERMISSIONS[Role::PUBLISHER], $client->permissions);
        self::assertSame($data, $client->data);
        $streamId = $client->publish(['name' => 't1']);
        self::assertSame(['full'], self::sdk()->getStream(self::$sessionId, $streamId)->layoutClassList);
        $client->leave();
    }

    public function testEveryRoleConnectsWithItsPermissions(): void
    {
        foreach (Role::ALL as $role) {
            foreach ([false, true] as $legacy) {
                $client = self::join(self::$sessionId, ['role' => $role], $legacy);
                self::assertSame(self::PERMISSIONS[$role], $client->permissions, $role . ($legacy ? ' (T1)' : ' (JWT)'));
                $client->leave();
            }
        }
    }

    public function testSessionObjectMakesTokensForItself(): void
    {
        $session = self::sdk()->createSession();
        $client = self::server()->join($session->getSessionId(), $session->generateToken(['role' => Role::PUBLISHER_ONLY]));
        self::assertSame(['publish'], $client->permissions);
        $client->leave();
        $client = self::server()->join($session->getSessionId(), $session->generateToken([], true));
        self::assertSame(self::PERMISSIONS[Role::PUBLISHER], $client->permissions);
        $client->leave();
    }

    public function testApplicationTokenIsAnRs256JwtThatConnects(): void
    {
        $app = self::appSdk();
        self::assertTrue($app->isApplication());
        $session = $app->createSession(['mediaMode' => MediaMode::ROUTED]);
        $token = $session->generateToken(['role' => Role::MODERATOR, 'data' => 'app user', 'initialLayoutClassList' => ['a']]);
        $jwt = self::decodeJwt($token);
        self::assertSame('RS256', $jwt['header']['alg']);
        self::assertSame(self::server()->applicationId, $jwt['claims']['application_id']);
        self::assertSame('video', $jwt['claims']['sub']);
        self::assertSame(['paths' => ['/session/**' => []]], $jwt['claims']['acl']);

        $client = self::server()->join($session->getSessionId(), $token);
        self::assertSame(self::PERMISSIONS[Role::MODERATOR], $client->permissions);
        self::assertSame('app user', $client->data);
        $streamId = $client->publish(['name' => 'app']);
        $stream = $app->getStream($session->getSessionId(), $streamId);
        self::assertSame(['a'], $stream->layoutClassList);
        self::assertSame('app', $stream->name);
        self::assertSame([$client->connectionId], array_map(static fn ($c) => $c->connectionId, $app->listConnections($session->getSessionId())->getItems()));
        $client->leave();
    }

    public function testApplicationsCannotMakeT1Tokens(): void
    {
        $app = self::appSdk();
        $sessionId = $app->createSession()->getSessionId();
        $this->expectException(InvalidArgumentException::class);
        $this->expectExceptionMessage('T1 tokens are signed with an API secret');
        $app->generateToken($sessionId, [], true);
    }

    public function testTheServerRefusesATokenSignedWithAnotherSecretOrTamperedWith(): void
    {
        $s = self::server();
        $impostor = new OpenTok($s->apiKey, 'another-secret-0123456789abcdef', ['apiUrl' => $s->url]);
        self::assertRefused('Invalid token: token signature is invalid', $impostor->generateToken(self::$sessionId));
        self::assertRefused('Invalid token: token signature is invalid', $impostor->generateToken(self::$sessionId, [], true));

        $token = self::sdk()->generateToken(self::$sessionId, ['role' => Role::SUBSCRIBER]);
        [$header, , $signature] = explode('.', $token);
        $claims = self::decodeJwt($token)['claims'];
        $claims['role'] = 'moderator';
        $forged = $header . '.' . rtrim(strtr(base64_encode(json_encode($claims)), '+/', '-_'), '=') . '.' . $signature;
        self::assertRefused('Invalid token: token signature is invalid', $forged);
    }

    public function testTheServerRefusesATokenForAnotherSession(): void
    {
        $other = self::sdk()->createSession()->getSessionId();
        self::assertRefused('Invalid token: token is for another session', self::sdk()->generateToken($other), self::$sessionId);
        self::assertRefused('Invalid token: token is for another session', self::sdk()->generateToken($other, [], true), self::$sessionId);
    }

    /**
     * @dataProvider refusedOptions
     * @param array<string, mixed> $options
     */
    public function testRefusesBadOptions(array $options, string $message, bool $legacy): void
    {
        $this->expectException(InvalidArgumentException::class);
        $this->expectExceptionMessage($message);
        self::sdk()->generateToken(self::$sessionId, $options, $legacy);
    }

    /** @return array<string, array{0: array<string, mixed>, 1: string, 2: bool}> */
    public static function refusedOptions(): array
    {
        $cases = [
            'unknown role' => [['role' => 'admin'], 'Unknown role "admin"'],
            'expired' => [['expireTime' => time() - 10], 'expireTime must be in the future'],
            'beyond 30 days' => [['expireTime' => time() + 30 * 86400 + 60], 'expireTime must be within 30 days'],
            'expiry not a number' => [['expireTime' => 'tomorrow'], 'expireTime must be a number'],
            'data too long' => [['data' => str_repeat('x', 1001)], 'Connection data must be at most 1000 characters'],
            'data too long in UTF-16' => [['data' => str_repeat('🎉', 501)], 'at most 1000 characters, got 1002'],
            'data not a string' => [['data' => ['a']], 'Connection data must be a string'],
            'data not UTF-8' => [['data' => "\xff\xfe"], 'valid UTF-8'],
            'classes not a list' => [['initialLayoutClassList' => ['a' => 'focus']], 'must be a list of strings'],
            'class with a space' => [['initialLayoutClassList' => ['two words']], 'without spaces'],
            'classes too long' => [['initialLayoutClassList' => array_fill(0, 300, 'abcd')], 'at most 1024 characters'],
            'misspelt option' => [['expire_time' => time() + 60], 'Unknown token option: expire_time'],
        ];
        $out = [];
        foreach ($cases as $name => [$options, $message]) {
            $out["$name (JWT)"] = [$options, $message, false];
            $out["$name (T1)"] = [$options, $message, true];
        }
        return $out;
    }

    public function testExactly1000CharactersOfDataAndThirtyDaysAreAllowed(): void
    {
        $client = self::join(self::$sessionId, ['data' => str_repeat('é', 1000), 'expireTime' => time() + 30 * 86400]);
        self::assertSame(str_repeat('é', 1000), $client->data);
        $client->leave();
    }

    public function testRefusesASessionOfAnotherProjectOrNotASessionId(): void
    {
        foreach ([self::sessionIdOf('12345678'), 'not-a-session', ''] as $sessionId) {
            try {
                self::sdk()->generateToken($sessionId);
                self::fail("a token was made for $sessionId");
            } catch (InvalidArgumentException $e) {
                self::assertMatchesRegularExpression('/session ID/i', $e->getMessage());
            }
        }
    }

    /** The server refuses to let the token join the session, as OpenTok.js's connect would report it. */
    private static function assertRefused(string $message, string $token, ?string $sessionId = null): void
    {
        $answer = self::server()->tryJoin($sessionId ?? self::$sessionId, $token);
        self::assertArrayHasKey('refused', $answer, 'the server let the token join');
        self::assertSame(['code' => 1004, 'name' => 'OT_AUTHENTICATION_ERROR', 'message' => $message], $answer['refused']);
    }
}
