<?php

// createSession against a real Colloquy server: every option reaches the server and is stored as
// given; the combinations OpenTok refuses are refused by the SDK before sending, and by the server.

declare(strict_types=1);

namespace Colloquy\Tests\Integration;

use Colloquy\ArchiveMode;
use Colloquy\Colloquy;
use Colloquy\Exception\InvalidArgumentException;
use Colloquy\MediaMode;
use Colloquy\Session;
use Colloquy\Tests\Support\TestCase;
use Colloquy\Util\Validators;

final class SessionsTest extends TestCase
{
    public function testDefaultSessionIsRoutedAndManual(): void
    {
        $session = self::sdk()->createSession();
        self::assertInstanceOf(Session::class, $session);
        self::assertSame(MediaMode::ROUTED, $session->getMediaMode());
        self::assertSame(ArchiveMode::MANUAL, $session->getArchiveMode());
        self::assertNull($session->getLocation());
        self::assertFalse($session->getE2EE());
        self::assertSame($session->getSessionId(), (string) $session);
        self::assertSame(self::server()->apiKey, Validators::sessionIdKey($session->getSessionId()));

        $stored = self::server()->storedSession($session->getSessionId());
        self::assertSame('routed', $stored['mediaMode']);
        self::assertSame('manual', $stored['archiveMode']);
        self::assertNull($stored['location']);
        self::assertFalse($stored['e2ee']);
    }

    public function testRoutedSessionWithLocation(): void
    {
        $session = self::sdk()->createSession(['mediaMode' => MediaMode::ROUTED, 'location' => '10.1.2.3']);
        self::assertSame(MediaMode::ROUTED, $session->getMediaMode());
        self::assertSame('10.1.2.3', $session->getLocation());
        $stored = self::server()->storedSession($session->getSessionId());
        self::assertSame('routed', $stored['mediaMode']);
        self::assertSame('10.1.2.3', $stored['location']);
    }

    public function testAlwaysArchivedSessionCarriesNameAndResolutionAndIsRoutedByDefault(): void
    {
        $session = self::sdk()->createSession([
            'archiveMode' => ArchiveMode::ALWAYS,
            'archiveName' => 'Weekly stand-up',
            'archiveResolution' => '1280x720',
        ]);
        self::assertSame(MediaMode::ROUTED, $session->getMediaMode());
        $stored = self::server()->storedSession($session->getSessionId());
        self::assertSame('routed', $stored['mediaMode']);
        self::assertSame('always', $stored['archiveMode']);
        self::assertSame('Weekly stand-up', $stored['archiveName']);
        self::assertSame('1280x720', $stored['archiveResolution']);
    }

    public function testAlwaysArchivedSessionDefaultsTo640x480(): void
    {
        $session = self::sdk()->createSession(['archiveMode' => ArchiveMode::ALWAYS, 'mediaMode' => MediaMode::ROUTED]);
        self::assertSame('640x480', self::server()->storedSession($session->getSessionId())['archiveResolution']);
    }

    public function testEndToEndEncryptedSession(): void
    {
        $session = self::sdk()->createSession(['e2ee' => true]);
        self::assertTrue($session->getE2EE());
        self::assertSame(MediaMode::ROUTED, $session->getMediaMode());
        $stored = self::server()->storedSession($session->getSessionId());
        self::assertTrue($stored['e2ee']);
        self::assertSame('routed', $stored['mediaMode']);
    }

    public function testFriendlyMediaModeWordsAndTheColloquyAlias(): void
    {
        $s = self::server();
        $sdk = new Colloquy($s->apiKey, $s->apiSecret, ['apiUrl' => $s->url . '/']);
        self::assertSame(MediaMode::ROUTED, $sdk->createSession(['mediaMode' => 'routed'])->getMediaMode());
        self::assertSame(MediaMode::RELAYED, $sdk->createSession(['mediaMode' => 'relayed'])->getMediaMode());
    }

    public function testAlwaysWithRelayedIsRefusedByTheSdk(): void
    {
        $this->expectException(InvalidArgumentException::class);
        $this->expectExceptionMessage('A session must be routed to be archived');
        self::sdk()->createSession(['archiveMode' => ArchiveMode::ALWAYS, 'mediaMode' => MediaMode::RELAYED]);
    }

    public function testAlwaysWithRelayedIsRefusedByTheServerToo(): void
    {
        // What another client would send, were it not to check: the server answers 400 with its reason.
        $response = self::rawCreate('p2p.preference=enabled&archiveMode=always');
        self::assertSame(400, $response['status']);
        self::assertStringContainsString('archiveMode "always" requires a routed session', json_decode($response['body'], true)['message']);
    }

    public function testTheServerRefusesWhatTheSdkWouldNotSend(): void
    {
        $response = self::rawCreate('p2p.preference=disabled&e2ee=maybe');
        self::assertSame(400, $response['status']);
        self::assertSame(['code' => 400, 'message' => 'e2ee must be "true" or "false"'], json_decode($response['body'], true));
    }

    /**
     * @dataProvider refusedOptions
     * @param array<string, mixed> $options
     */
    public function testRefusesBadOptionsBeforeSending(array $options, string $message): void
    {
        $this->expectException(InvalidArgumentException::class);
        $this->expectExceptionMessage($message);
        self::stubSdk()->createSession($options);
    }

    /** @return array<string, array{0: array<string, mixed>, 1: string}> */
    public static function refusedOptions(): array
    {
        return [
            'e2ee relayed' => [['e2ee' => true, 'mediaMode' => MediaMode::RELAYED], 'needs MediaMode::ROUTED'],
            'e2ee always' => [['e2ee' => true, 'archiveMode' => ArchiveMode::ALWAYS], 'cannot be used with e2ee'],
            'name when manual' => [['archiveName' => 'x'], 'Cannot set archiveName when the archive mode is manual'],
            'resolution when manual' => [['archiveResolution' => '640x480'], 'Cannot set archiveResolution'],
            'bad resolution' => [['archiveMode' => ArchiveMode::ALWAYS, 'archiveResolution' => '800x600'], 'The resolution must be one of'],
            'long name' => [['archiveMode' => ArchiveMode::ALWAYS, 'archiveName' => str_repeat('n', 81)], 'at most 80 characters'],
            'bad location' => [['location' => 'example.com'], 'location must be an IPv4 address'],
            'ipv6 location' => [['location' => '::1'], 'location must be an IPv4 address'],
            'bad media mode' => [['mediaMode' => 'p2p'], 'mediaMode must be'],
            'bad archive mode' => [['archiveMode' => 'sometimes'], 'archiveMode must be'],
            'e2ee not bool' => [['e2ee' => 'yes'], 'e2ee must be true or false'],
            'unknown option' => [['medaMode' => MediaMode::ROUTED], 'Unknown session option: medaMode'],
        ];
    }

    /** @return array{status: int, headers: array<string, string>, body: string} */
    private static function rawCreate(string $form): array
    {
        return self::raw('POST', '/session/create', $form, ['Accept: application/json', 'Content-Type: application/x-www-form-urlencoded']);
    }
}
