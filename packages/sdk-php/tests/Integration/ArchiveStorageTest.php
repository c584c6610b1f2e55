<?php

// The project's archive storage through the SDK against the real server: set (the secret key never
// comes back), read, remove; the SDK's own checks before any request, and the server's 400 and 501
// (Azure) as exceptions with their status. The uploads themselves are tested in the server's suite
// against an S3-compatible server.

declare(strict_types=1);

namespace Colloquy\Tests\Integration;

use Colloquy\Exception\ApiException;
use Colloquy\Exception\InvalidArgumentException;
use Colloquy\Tests\Support\TestCase;

final class ArchiveStorageTest extends TestCase
{
    private const SECRET = 'php-storage-secret-0123456789';

    protected function tearDown(): void
    {
        self::sdk()->deleteArchiveStorage();
    }

    public function testSetsReadsAndRemovesTheStorageWithoutShowingTheSecret(): void
    {
        self::assertNull(self::sdk()->getArchiveStorage());
        $set = self::sdk()->setArchiveStorage(['bucket' => 'php-bucket', 'accessKey' => 'AK', 'secretKey' => self::SECRET, 'endpoint' => 'http://127.0.0.1:9000/'], 'none');
        self::assertSame('s3', $set['type']);
        self::assertSame('none', $set['fallback']);
        self::assertSame(['php-bucket', 'AK', 'http://127.0.0.1:9000', true, '…6789'], [
            $set['config']['bucket'], $set['config']['accessKey'], $set['config']['endpoint'], $set['config']['secretKeySet'], $set['config']['secretKeyHint'],
        ]);
        $got = self::sdk()->getArchiveStorage();
        self::assertSame($set, $got);
        self::assertStringNotContainsString(self::SECRET, (string) json_encode($got));
        // The default fallback is OpenTok's: keep the archive when an upload fails.
        self::assertSame('opentok', self::sdk()->setArchiveStorage(['bucket' => 'php-bucket', 'accessKey' => 'AK', 'secretKey' => self::SECRET])['fallback']);
        self::assertTrue(self::sdk()->deleteArchiveStorage());
        self::assertNull(self::sdk()->getArchiveStorage());
    }

    public function testRefusesBadSettingsBeforeAndAtTheServer(): void
    {
        foreach ([
            [['accessKey' => 'AK', 'secretKey' => 'S'], 'opentok'],
            [['bucket' => 'b-1', 'accessKey' => 'AK', 'secretKey' => ''], 'opentok'],
            [['bucket' => 'b-1', 'accessKey' => 'AK', 'secretKey' => 'S', 'region' => 'eu'], 'opentok'],
            [['bucket' => 'b-1', 'accessKey' => 'AK', 'secretKey' => 'S'], 'local'],
        ] as [$config, $fallback]) {
            try {
                self::sdk()->setArchiveStorage($config, $fallback);
                self::fail('refused settings were sent: ' . json_encode($config));
            } catch (InvalidArgumentException) {
                // checked before any request
            }
        }
        $e = null;
        try {
            self::sdk()->setArchiveStorage(['bucket' => 'b-1', 'accessKey' => 'AK', 'secretKey' => 'S', 'endpoint' => 'ftp://x.example.com']);
        } catch (ApiException $caught) {
            $e = $caught;
        }
        self::assertNotNull($e, 'the server refused the endpoint');
        self::assertSame(400, $e->getStatus());
        self::assertStringContainsString('endpoint', $e->getMessage());
        self::assertNull(self::sdk()->getArchiveStorage(), 'a refused call changed nothing');
    }
}
