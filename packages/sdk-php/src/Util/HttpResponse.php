<?php

// A successful REST answer: status, media type, raw text and the decoded JSON (null when none).

declare(strict_types=1);

namespace Colloquy\Util;

use Colloquy\Exception\UnexpectedValueException;

/** @internal */
final class HttpResponse
{
    public function __construct(
        public readonly int $status,
        public readonly string $contentType,
        public readonly string $body,
        public readonly mixed $data,
        public readonly string $method,
        public readonly string $url
    ) {
    }

    /**
     * The decoded JSON object (as an array); an UnexpectedValueException when the server sent none.
     *
     * @return array<mixed>
     */
    public function json(): array
    {
        if (!is_array($this->data)) {
            throw new UnexpectedValueException("{$this->method} {$this->url} answered {$this->status} without the expected JSON body");
        }
        return $this->data;
    }
}
