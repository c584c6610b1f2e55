<?php

// A REST call that failed: the server's answer (status, its JSON `code` and `message`), or a
// transport failure (status 0). getMessage() is the server's message, unchanged; getCode() is the
// HTTP status.

declare(strict_types=1);

namespace Colloquy\Exception;

abstract class ApiException extends \RuntimeException implements Exception
{
    private int $status;
    private ?int $serverCode;
    private string $method;
    private string $url;

    final public function __construct(
        string $message,
        int $status,
        ?int $serverCode = null,
        string $method = '',
        string $url = '',
        ?\Throwable $previous = null
    ) {
        parent::__construct($message, $status, $previous);
        $this->status = $status;
        $this->serverCode = $serverCode;
        $this->method = $method;
        $this->url = $url;
    }

    /**
     * The exception class for an HTTP error status: 401/403 authentication, 404 not found,
     * 409 conflict, anything else a request error.
     */
    public static function forStatus(
        int $status,
        string $message,
        ?int $serverCode = null,
        string $method = '',
        string $url = ''
    ): self {
        $class = match (true) {
            $status === 401, $status === 403 => AuthenticationException::class,
            $status === 404 => NotFoundException::class,
            $status === 409 => ConflictException::class,
            default => RequestException::class,
        };
        return new $class($message, $status, $serverCode, $method, $url);
    }

    /** HTTP status of the answer; 0 when the server could not be reached or did not answer in time. */
    public function getStatus(): int
    {
        return $this->status;
    }

    /** The `code` field of the server's JSON error body (e.g. 15202), when it sent one. */
    public function getServerCode(): ?int
    {
        return $this->serverCode;
    }

    /** HTTP method of the failed call. */
    public function getMethod(): string
    {
        return $this->method;
    }

    /** Full URL of the failed call. */
    public function getUrl(): string
    {
        return $this->url;
    }
}
