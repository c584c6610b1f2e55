<?php

// Base class of the SDK's tests: SDK clients pointed at the real server or at the recording stub,
// real clients joining sessions (LiveClient), and small helpers to read JWTs and build session IDs.

declare(strict_types=1);

namespace Colloquy\Tests\Support;

use Colloquy\OpenTok;
use Colloquy\Util\Jwt;
use PHPUnit\Framework\TestCase as PHPUnitTestCase;

abstract class TestCase extends PHPUnitTestCase
{
    protected static function server(): TestServer
    {
        return TestServer::get();
    }

    /** A project client of the real Colloquy server. */
    protected static function sdk(array $options = []): OpenTok
    {
        $s = self::server();
        return new OpenTok($s->apiKey, $s->apiSecret, ['apiUrl' => $s->url] + $options);
    }

    /** An application client (RS256) of the real Colloquy server. */
    protected static function appSdk(): OpenTok
    {
        $s = self::server();
        return new OpenTok($s->applicationId, $s->privateKeyPem, ['apiUrl' => $s->url]);
    }

    /**
     * A real client that joined the session with a token this SDK made (`$tokenOptions` as for
     * generateToken; T1 when `$legacy`), over the signaling WebSocket.
     *
     * @param array<string, mixed> $tokenOptions
     */
    protected static function join(string $sessionId, array $tokenOptions = [], bool $legacy = false, ?OpenTok $sdk = null): LiveClient
    {
        return self::server()->join($sessionId, ($sdk ?? self::sdk())->generateToken($sessionId, $tokenOptions, $legacy));
    }

    /** A project client of the recording stub, for request-shape tests. */
    protected static function stubSdk(array $options = []): OpenTok
    {
        $s = self::server();
        return new OpenTok($s->apiKey, $s->apiSecret, ['apiUrl' => $s->stubUrl] + $options);
    }

    /** A session ID of the test project that the server never created. */
    protected static function sessionIdOf(string $key, string $location = ''): string
    {
        $random = base64_encode(random_bytes(18));
        $text = '1~' . $key . '~' . $location . '~' . (int) (microtime(true) * 1000) . '~' . $random . '~~';
        return '1_' . rtrim(strtr(base64_encode($text), '+/', '-_'), '=');
    }

    /**
     * The header and claims of a JWT, unverified.
     *
     * @return array{header: array<string, mixed>, claims: array<string, mixed>, input: string, signature: string}
     */
    protected static function decodeJwt(string $jwt): array
    {
        $parts = explode('.', $jwt);
        self::assertCount(3, $parts, 'a JWT has three parts');
        $decode = static fn (string $part): string => base64_decode(strtr($part, '-_', '+/'), true) ?: '';
        return [
            'header' => json_decode($decode($parts[0]), true, 512, JSON_THROW_ON_ERROR),
            'claims' => json_decode($decode($parts[1]), true, 512, JSON_THROW_ON_ERROR),
            'input' => $parts[0] . '.' . $parts[1],
            'signature' => $decode($parts[2]),
        ];
    }

    /**
     * The one request the stub received since it was scripted.
     *
     * @return array{method: string, path: string, headers: array<string, string>, body: string}
     */
    protected static function onlyRequest(): array
    {
        $requests = self::server()->stubRequests();
        self::assertCount(1, $requests, 'exactly one request reached the stub');
        return $requests[0];
    }

    protected static function projectPath(string $rest): string
    {
        return '/v2/project/' . self::server()->apiKey . '/' . $rest;
    }

    /**
     * A request made by hand (as another SDK would make it) to the real server, signed with the
     * test project's HS256 REST JWT unless `$auth` is false. Nothing is added: no Accept header
     * unless given, no Content-Type unless given.
     *
     * @param list<string> $headers
     * @return array{status: int, headers: array<string, string>, body: string}
     */
    protected static function raw(string $method, string $path, ?string $body = null, array $headers = [], bool $auth = true): array
    {
        $s = self::server();
        if ($auth) {
            $iat = time();
            $headers[] = 'X-OPENTOK-AUTH: ' . Jwt::sign(['iss' => $s->apiKey, 'ist' => 'project', 'iat' => $iat, 'exp' => $iat + 300, 'jti' => uniqid('', true)], $s->apiSecret, 'HS256');
        }
        // curl would add "Accept: */*" of its own; an empty value removes it (as Guzzle does).
        if (!preg_grep('/^accept:/i', $headers)) {
            $headers[] = 'Accept:';
        }
        $responseHeaders = [];
        $curl = curl_init($s->url . $path);
        curl_setopt_array($curl, [
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_HTTPHEADER => $headers,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_TIMEOUT => 10,
            CURLOPT_HEADERFUNCTION => static function ($c, string $line) use (&$responseHeaders): int {
                if (str_contains($line, ':')) {
                    [$name, $value] = explode(':', $line, 2);
                    $responseHeaders[strtolower(trim($name))] = trim($value);
                }
                return strlen($line);
            },
        ]);
        if ($body !== null) {
            curl_setopt($curl, CURLOPT_POSTFIELDS, $body);
        }
        $text = curl_exec($curl);
        self::assertIsString($text, "$method $path: " . curl_error($curl));
        return ['status' => (int) curl_getinfo($curl, CURLINFO_RESPONSE_CODE), 'headers' => $responseHeaders, 'body' => $text];
    }
}
