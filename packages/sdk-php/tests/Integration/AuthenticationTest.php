<?php

// REST authentication against the real server: a wrong secret, an unknown key or another private
// key is an AuthenticationException carrying the server's message; an application (RS256 Bearer)
// works end to end with a key pair this test made.

declare(strict_types=1);

namespace Colloquy\Tests\Integration;

use Colloquy\Exception\AuthenticationException;
use Colloquy\Exception\InvalidArgumentException;
use Colloquy\OpenTok;
use Colloquy\Tests\Support\TestCase;
use Colloquy\Tests\Support\TestServer;
use Colloquy\Util\Validators;

final class AuthenticationTest extends TestCase
{
    public function testWrongSecretIsRefusedWith403AndTheServersMessage(): void
    {
        $s = self::server();
        $sdk = new OpenTok($s->apiKey, 'not-the-secret-0123456789abcdef', ['apiUrl' => $s->url]);
        try {
            $sdk->createSession();
            self::fail('the server accepted a wrong secret');
        } catch (AuthenticationException $e) {
            self::assertSame(403, $e->getStatus());
            self::assertSame(403, $e->getCode());
            self::assertSame('Invalid credentials', $e->getMessage());
            self::assertSame('POST', $e->getMethod());
            self::assertSame($s->url . '/session/create', $e->getUrl());
        }
    }

    public function testUnknownApiKeyIsRefused(): void
    {
        $s = self::server();
        $sdk = new OpenTok('99999999', $s->apiSecret, ['apiUrl' => $s->url]);
        $this->expectException(AuthenticationException::class);
        $this->expectExceptionMessage('Invalid credentials');
        $sdk->listArchives();
    }

    public function testWrongSecretIsRefusedOnTheProjectTreeToo(): void
    {
        $s = self::server();
        $sessionId = self::sdk()->createSession()->getSessionId();
        $sdk = new OpenTok($s->apiKey, 'not-the-secret-0123456789abcdef', ['apiUrl' => $s->url]);
        $this->expectException(AuthenticationException::class);
        $sdk->listConnections($sessionId);
    }

    public function testApplicationCreatesSessionsAndCallsTheProjectTree(): void
    {
        $app = self::appSdk();
        self::assertSame(self::server()->applicationId, $app->getApiKey());
        $session = $app->createSession();
        self::assertSame(self::server()->applicationId, Validators::sessionIdKey($session->getSessionId()));
        self::assertSame(0, $app->listArchives(0, 10, $session->getSessionId())->totalCount());
        $connections = $app->listConnections($session->getSessionId());
        self::assertSame(self::server()->applicationId, $connections->getProjectId());
    }

    public function testApplicationWithThePrivateKeyInAFile(): void
    {
        $file = tempnam(sys_get_temp_dir(), 'colloquy-key-');
        file_put_contents($file, self::server()->privateKeyPem);
        try {
            $s = self::server();
            $app = new OpenTok(strtoupper($s->applicationId), $file, ['apiUrl' => $s->url]);
            self::assertTrue($app->isApplication());
            self::assertSame($s->applicationId, $app->getApiKey());
            self::assertNotEmpty($app->createSession()->getSessionId());
        } finally {
            unlink($file);
        }
    }

    public function testApplicationWithAnotherPrivateKeyIsRefused(): void
    {
        [$otherKey] = TestServer::rsaKeyPair();
        $app = new OpenTok(self::server()->applicationId, $otherKey, ['apiUrl' => self::server()->url]);
        $this->expectException(AuthenticationException::class);
        $this->expectExceptionMessage('Invalid credentials');
        $app->createSession();
    }

    public function testAProjectCannotUseAnotherProjectsSession(): void
    {
        // The SDK refuses before sending: the session ID carries the application ID, not the key.
        $appSession = self::appSdk()->createSession()->getSessionId();
        $this->expectException(InvalidArgumentException::class);
        $this->expectExceptionMessage('must belong to the API key');
        self::sdk()->listStreams($appSession);
    }

    public function testConstructorRefusesBadCredentialsAndOptions(): void
    {
        $cases = [
            fn () => new OpenTok('', 'secret'),
            fn () => new OpenTok('123', ''),
            fn () => new OpenTok('123', self::server()->privateKeyPem),
            fn () => new OpenTok(self::server()->applicationId, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n"),
            fn () => new OpenTok('123', 'secret', ['apiUrl' => 'ftp://example.com']),
            fn () => new OpenTok('123', 'secret', ['apiUrl' => 'not a url']),
            fn () => new OpenTok('123', 'secret', ['timeout' => 0]),
            fn () => new OpenTok('123', 'secret', ['timeout' => 'soon']),
            fn () => new OpenTok('123', 'secret', ['client' => new \stdClass()]),
            fn () => new OpenTok('123', 'secret', ['app' => ['name' => "x\r\nX-Evil: 1", 'version' => '1']]),
        ];
        foreach ($cases as $i => $case) {
            try {
                $case();
                self::fail("case $i was accepted");
            } catch (InvalidArgumentException $e) {
                self::assertNotSame('', $e->getMessage());
            }
        }
    }

    public function testSecretsAndKeysDoNotShowInDebugDumps(): void
    {
        foreach ([self::sdk(), self::appSdk()] as $sdk) {
            ob_start();
            var_dump($sdk);
            $dump = print_r($sdk, true) . ob_get_clean();
            self::assertStringNotContainsString(self::server()->apiSecret, $dump);
            self::assertStringNotContainsString('PRIVATE KEY', $dump);
            self::assertStringContainsString($sdk->getApiKey(), $dump);
        }
    }
}
