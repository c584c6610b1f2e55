<?php

// Live captions through this SDK against a real server: startCaptions with a moderator token
// (OpenTok's defaults), the status while running and after stopCaptions (stopped, user initiated),
// and OpenTok's errors: a publisher token (400), captions already running (409), a relayed session
// (409), an unknown captions ID (404), a maxDuration out of range (refused before any request).

declare(strict_types=1);

namespace Colloquy\Tests\Integration;

use Colloquy\Exception\ConflictException;
use Colloquy\Exception\NotFoundException;
use Colloquy\Exception\RequestException;
use Colloquy\MediaMode;
use Colloquy\Role;
use Colloquy\Tests\Support\TestCase;
use InvalidArgumentException;

final class CaptionsTest extends TestCase
{
    public function testStartsReadsAndStopsCaptions(): void
    {
        $sdk = self::sdk();
        $sessionId = $sdk->createSession(['mediaMode' => MediaMode::ROUTED])->getSessionId();
        $moderator = $sdk->generateToken($sessionId, ['role' => Role::MODERATOR]);

        $started = $sdk->startCaptions($sessionId, $moderator);
        self::assertMatchesRegularExpression('/^[0-9a-f-]{36}$/', $started['captionsId']);
        $status = $sdk->getCaptions($started['captionsId']);
        self::assertSame(['started', $sessionId, 'en-US', 'pocketsphinx'], [$status['status'], $status['sessionId'], $status['languageCode'], $status['provider']]);

        try {
            $sdk->startCaptions($sessionId, $moderator);
            self::fail('a second start must be refused');
        } catch (ConflictException $e) {
            self::assertSame(409, $e->getCode());
            self::assertStringContainsString('already running', $e->getMessage());
        }

        self::assertTrue($sdk->stopCaptions($started['captionsId']));
        $stopped = $sdk->getCaptions($started['captionsId']);
        self::assertSame(['stopped', 'user initiated'], [$stopped['status'], $stopped['reason']]);

        // Stopped captions free the session: they can start again.
        $again = $sdk->startCaptions($sessionId, $moderator, 'en-US', 300, false);
        self::assertNotSame($started['captionsId'], $again['captionsId']);
        $sdk->stopCaptions($again['captionsId']);
    }

    public function testRefusesWhatOpenTokRefuses(): void
    {
        $sdk = self::sdk();
        $sessionId = $sdk->createSession(['mediaMode' => MediaMode::ROUTED])->getSessionId();
        try {
            $sdk->startCaptions($sessionId, $sdk->generateToken($sessionId, ['role' => Role::PUBLISHER]));
            self::fail('a publisher token must be refused');
        } catch (RequestException $e) {
            self::assertSame(400, $e->getCode());
            self::assertStringContainsString('moderator', $e->getMessage());
        }
        try {
            $sdk->startCaptions($sessionId, $sdk->generateToken($sessionId, ['role' => Role::MODERATOR]), 'fr-FR');
            self::fail('a language without a model must be refused');
        } catch (RequestException $e) {
            self::assertSame(400, $e->getCode());
            self::assertStringContainsString('en-US', $e->getMessage());
        }
        $relayed = $sdk->createSession(['mediaMode' => MediaMode::RELAYED])->getSessionId();
        try {
            $sdk->startCaptions($relayed, $sdk->generateToken($relayed, ['role' => Role::MODERATOR]));
            self::fail('a relayed session must be refused');
        } catch (ConflictException $e) {
            self::assertStringContainsString('routed', $e->getMessage());
        }
        try {
            $sdk->stopCaptions('5f1c1d2e-0000-4000-8000-000000000000');
            self::fail('unknown captions must be 404');
        } catch (NotFoundException $e) {
            self::assertSame(404, $e->getCode());
        }
        $this->expectException(InvalidArgumentException::class);
        $sdk->startCaptions($sessionId, $sdk->generateToken($sessionId, ['role' => Role::MODERATOR]), 'en-US', 100);
    }
}
