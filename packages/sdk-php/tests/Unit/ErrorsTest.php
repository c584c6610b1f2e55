<?php

// How answers become exceptions: the class for each status, the server's message and code carried
// unchanged, non-JSON error bodies, malformed success answers, timeouts and refused connections.

declare(strict_types=1);

namespace Colloquy\Tests\Unit;

use Colloquy\Exception\ApiException;
use Colloquy\Exception\AuthenticationException;
use Colloquy\Exception\ConflictException;
use Colloquy\Exception\Exception as ColloquyException;
use Colloquy\Exception\NotFoundException;
use Colloquy\Exception\RequestException;
use Colloquy\Exception\UnexpectedValueException;
use Colloquy\OpenTok;
use Colloquy\Tests\Support\TestCase;

final class ErrorsTest extends TestCase
{
    /**
     * @dataProvider statuses
     * @param class-string<ApiException> $class
     */
    public function testStatusToExceptionClass(int $status, string $class): void
    {
        $sessionId = self::sessionIdOf(self::server()->apiKey);
        self::server()->stubRespond(['status' => $status, 'body' => ['code' => 15202, 'message' => "the server said $status"]]);
        try {
            self::stubSdk()->signal($sessionId, ['data' => 'x']);
            self::fail('no exception');
        } catch (ApiException $e) {
            self::assertInstanceOf($class, $e);
            self::assertInstanceOf(ColloquyException::class, $e);
            self::assertSame("the server said $status", $e->getMessage());
            self::assertSame($status, $e->getStatus());
            self::assertSame($status, $e->getCode());
            self::assertSame(15202, $e->getServerCode());
            self::assertSame('POST', $e->getMethod());
            self::assertSame(self::server()->stubUrl . self::projectPath("session/$sessionId/signal"), $e->getUrl());
        }
    }

    /** @return array<string, array{0: int, 1: class-string<ApiException>}> */
    public static function statuses(): array
    {
        return [
            '400' => [400, RequestException::class],
            '401' => [401, AuthenticationException::class],
            '403' => [403, AuthenticationException::class],
            '404' => [404, NotFoundException::class],
            '405' => [405, RequestException::class],
            '409' => [409, ConflictException::class],
            '413' => [413, RequestException::class],
            '429' => [429, RequestException::class],
            '500' => [500, RequestException::class],
            '501' => [501, RequestException::class],
            '503' => [503, RequestException::class],
        ];
    }

    public function testErrorWithoutAJsonBody(): void
    {
        self::server()->stubRespond(['status' => 502, 'body' => "Bad gateway\n", 'contentType' => 'text/plain']);
        $e = self::caught(fn () => self::stubSdk()->listArchives());
        self::assertInstanceOf(RequestException::class, $e);
        self::assertSame('Bad gateway', $e->getMessage());
        self::assertNull($e->getServerCode());

        self::server()->stubRespond(['status' => 500]);
        self::assertSame('HTTP 500', self::caught(fn () => self::stubSdk()->listArchives())->getMessage());

        self::server()->stubRespond(['status' => 404, 'body' => ['error' => 'no message field']]);
        $e = self::caught(fn () => self::stubSdk()->listArchives());
        self::assertInstanceOf(NotFoundException::class, $e);
        self::assertSame('HTTP 404', $e->getMessage());
    }

    public function testRedirectIsAFailureNotAnAnswer(): void
    {
        self::server()->stubRespond(['status' => 301, 'body' => 'Moved', 'contentType' => 'text/plain']);
        $e = self::caught(fn () => self::stubSdk()->listArchives());
        self::assertInstanceOf(RequestException::class, $e);
        self::assertSame(301, $e->getStatus());
    }

    public function testSuccessWithInvalidJsonOrMissingFields(): void
    {
        self::server()->stubRespond(['status' => 200, 'body' => '{"count": 0, "items": [', 'contentType' => 'application/json']);
        $this->assertUnexpected(fn () => self::stubSdk()->listArchives(), 'invalid JSON');

        self::server()->stubRespond(['status' => 200, 'body' => 'ok', 'contentType' => 'text/plain']);
        $this->assertUnexpected(fn () => self::stubSdk()->listArchives(), 'without the expected JSON body');

        self::server()->stubRespond(['status' => 200, 'body' => ['items' => []]]);
        $this->assertUnexpected(fn () => self::stubSdk()->listArchives(), 'needs "count" and "items"');

        self::server()->stubRespond(['status' => 200, 'body' => ['status' => 'started']]);
        $this->assertUnexpected(fn () => self::stubSdk()->getArchive('b40ef09b-3811-4726-b508-e41a0f96c68f'), 'no "id"');

        self::server()->stubRespond(['status' => 200, 'body' => [['project_id' => '1']]]);
        $this->assertUnexpected(fn () => self::stubSdk()->createSession(), 'without a session_id');

        self::server()->stubRespond(['status' => 200, 'body' => ['count' => 1, 'items' => [['connectionState' => 'Connected']]]]);
        $this->assertUnexpected(fn () => self::stubSdk()->listConnections(self::sessionIdOf(self::server()->apiKey)), 'no "connectionId"');
    }

    public function testJsonMediaTypesWithParametersAreJson(): void
    {
        self::server()->stubRespond(['status' => 200, 'body' => '{"count":3,"items":[]}', 'contentType' => 'application/json; charset=utf-8']);
        self::assertSame(3, self::stubSdk()->listArchives()->totalCount());
    }

    public function testTimeout(): void
    {
        self::server()->stubRespond(['status' => 200, 'body' => ['count' => 0, 'items' => []], 'delayMs' => 3000]);
        $started = microtime(true);
        $e = self::caught(fn () => self::stubSdk(['timeout' => 0.3])->listArchives());
        self::assertInstanceOf(RequestException::class, $e);
        self::assertSame(0, $e->getStatus());
        self::assertStringContainsString('timed out', $e->getMessage());
        self::assertLessThan(2.5, microtime(true) - $started, 'the timeout cut the call short');
    }

    public function testServerThatIsNotThere(): void
    {
        // A port that was just free: nothing listens on it.
        $socket = stream_socket_server('tcp://127.0.0.1:0');
        $port = (int) substr((string) stream_socket_get_name($socket, false), strrpos((string) stream_socket_get_name($socket, false), ':') + 1);
        fclose($socket);
        $s = self::server();
        $sdk = new OpenTok($s->apiKey, $s->apiSecret, ['apiUrl' => "http://127.0.0.1:$port"]);
        $e = self::caught(fn () => $sdk->createSession());
        self::assertInstanceOf(RequestException::class, $e);
        self::assertSame(0, $e->getStatus());
        self::assertStringContainsString("POST http://127.0.0.1:$port/session/create failed", $e->getMessage());
    }

    public function testTheClientKeepsWorkingAfterAFailure(): void
    {
        $sdk = self::stubSdk(['timeout' => 0.3]);
        self::server()->stubRespond(['status' => 200, 'delayMs' => 2000]);
        self::caught(fn () => $sdk->listArchives());
        self::server()->stubRespond(['status' => 200, 'body' => ['count' => 4, 'items' => []]]);
        self::assertSame(4, $sdk->listArchives()->totalCount());
    }

    private function assertUnexpected(callable $call, string $message): void
    {
        try {
            $call();
            self::fail('no exception');
        } catch (UnexpectedValueException $e) {
            self::assertInstanceOf(ColloquyException::class, $e);
            self::assertStringContainsString($message, $e->getMessage());
        }
    }

    private static function caught(callable $call): ApiException
    {
        try {
            $call();
        } catch (ApiException $e) {
            return $e;
        }
        self::fail('no exception');
    }
}
