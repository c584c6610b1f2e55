<?php

// Client tokens made by the SDK, proven valid by the server's own verifier (verifyClientToken, the
// function signaling uses) against the server's project store: JWT by default, T1 when asked,
// RS256 in application mode; every option lands in the claims the server reads.

declare(strict_types=1);

namespace Colloquy\Tests\Integration;

use Colloquy\Exception\InvalidArgumentException;
use Colloquy\MediaMode;
use Colloquy\OpenTok;
use Colloquy\Role;
use Colloquy\Tests\Support\TestCase;

final class TokensTest extends TestCase
{
    private static string $sessionId;

    public static function setUpBeforeClass(): void
    {
        self::$sessionId = self::sdk()->createSession(['mediaMode' => MediaMode::ROUTED])->getSessionId();
    }

    public function testDefaultTokenIsAnHs256JwtThatTheServerAccepts(): void
    {
        $before = time();
        $token = self::sdk()->generateToken(self::$sessionId);
        $jwt = self::decodeJwt($token);
        self::assertSame(['alg' => 'HS256', 'typ' => 'JWT'], $jwt['header']);
        self::assertSame(self::server()->apiKey, $jwt['claims']['iss']);
        self::assertSame('project', $jwt['claims']['ist']);
        self::assertSame('session.connect', $jwt['claims']['scope']);

        $result = self::server()->verifyToken($token, self::$sessionId);
        self::assertTrue($result['ok'], $result['message'] ?? '');
        $claims = $result['claims'];
        self::assertSame('jwt', $claims['kind']);
        self::assertSame(self::server()->apiKey, $claims['projectId']);
        self::assertSame(self::$sessionId, $claims['sessionId']);
        self::assertSame('publisher', $claims['role']);
        self::assertSame('', $claims['connectionData']);
        self::assertSame([], $claims['initialLayoutClassList']);
        self::assertGreaterThanOrEqual($before + 86400, $claims['expireTime']);
        self::assertLessThanOrEqual(time() + 86400, $claims['expireTime']);
    }

    public function testJwtCarriesEveryOption(): void
    {
        $expire = time() + 3600;
        $token = self::sdk()->generateToken(self::$sessionId, [
            'role' => Role::MODERATOR,
            'expireTime' => $expire,
            'data' => 'name=Ada & Grace, née “Lovelace” 🎉',
            'initialLayoutClassList' => ['focus', 'main'],
        ]);
        $claims = self::verified($token);
        self::assertSame('moderator', $claims['role']);
        self::assertSame($expire, $claims['expireTime']);
        self::assertSame('name=Ada & Grace, née “Lovelace” 🎉', $claims['connectionData']);
        self::assertSame(['focus', 'main'], $claims['initialLayoutClassList']);
    }

    public function testLegacyT1TokenCarriesEveryOption(): void
    {
        $expire = time() + 7200;
        $token = self::sdk()->generateToken(self::$sessionId, [
            'role' => Role::SUBSCRIBER,
            'expireTime' => $expire,
            'data' => 'user=42&name=Ada Lovelace+1%',
            'initialLayoutClassList' => ['full'],
        ], true);
        self::assertStringStartsWith('T1==', $token);
        $claims = self::verified($token);
        self::assertSame('T1', $claims['kind']);
        self::assertSame('subscriber', $claims['role']);
        self::assertSame($expire, $claims['expireTime']);
        self::assertSame('user=42&name=Ada Lovelace+1%', $claims['connectionData']);
        self::assertSame(['full'], $claims['initialLayoutClassList']);
    }

    public function testEveryRoleIsAccepted(): void
    {
        foreach (Role::ALL as $role) {
            self::assertSame($role, self::verified(self::sdk()->generateToken(self::$sessionId, ['role' => $role]))['role']);
            self::assertSame($role, self::verified(self::sdk()->generateToken(self::$sessionId, ['role' => $role], true))['role']);
        }
    }

    public function testSessionObjectMakesTokensForItself(): void
    {
        $session = self::sdk()->createSession();
        $claims = self::verified($session->generateToken(['role' => Role::PUBLISHER_ONLY]), $session->getSessionId());
        self::assertSame('publisheronly', $claims['role']);
        self::assertSame('T1', self::verified($session->generateToken([], true), $session->getSessionId())['kind']);
    }

    public function testApplicationTokenIsAnRs256JwtThatTheServerAccepts(): void
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

        $claims = self::verified($token, $session->getSessionId());
        self::assertSame('application', $claims['kind']);
        self::assertSame(self::server()->applicationId, $claims['projectId']);
        self::assertSame('moderator', $claims['role']);
        self::assertSame('app user', $claims['connectionData']);
        self::assertSame(['a'], $claims['initialLayoutClassList']);
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
        $jwt = $impostor->generateToken(self::$sessionId);
        self::assertSame('bad-signature', self::server()->verifyToken($jwt)['reason']);
        self::assertSame('bad-signature', self::server()->verifyToken($impostor->generateToken(self::$sessionId, [], true))['reason']);

        $token = self::sdk()->generateToken(self::$sessionId, ['role' => Role::SUBSCRIBER]);
        [$header, $payload, $signature] = explode('.', $token);
        $claims = self::decodeJwt($token)['claims'];
        $claims['role'] = 'moderator';
        $forged = $header . '.' . rtrim(strtr(base64_encode(json_encode($claims)), '+/', '-_'), '=') . '.' . $signature;
        self::assertSame('bad-signature', self::server()->verifyToken($forged)['reason']);
    }

    public function testTheServerRefusesATokenForAnotherSession(): void
    {
        $other = self::sdk()->createSession()->getSessionId();
        $result = self::server()->verifyToken(self::sdk()->generateToken(self::$sessionId), $other);
        self::assertFalse($result['ok']);
        self::assertSame('wrong-session', $result['reason']);
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
        $claims = self::verified(self::sdk()->generateToken(self::$sessionId, ['data' => str_repeat('é', 1000), 'expireTime' => time() + 30 * 86400]));
        self::assertSame(1000, mb_strlen($claims['connectionData']));
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

    /** @return array<string, mixed> */
    private static function verified(string $token, ?string $sessionId = null): array
    {
        $result = self::server()->verifyToken($token, $sessionId ?? self::$sessionId);
        self::assertTrue($result['ok'], 'the server refused the token: ' . ($result['message'] ?? ''));
        return $result['claims'];
    }
}
