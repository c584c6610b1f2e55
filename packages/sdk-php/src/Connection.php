<?php

// A client connected to a session, as GET …/session/{sid}/connection lists it.

declare(strict_types=1);

namespace Colloquy;

use Colloquy\Exception\UnexpectedValueException;
use JsonSerializable;

final class Connection implements JsonSerializable
{
    public readonly string $connectionId;
    /** "Connected" or "Connecting". */
    public readonly string $connectionState;
    /** Epoch milliseconds. */
    public readonly int $createdAt;

    /**
     * @internal
     * @param array<string, mixed> $data
     */
    public function __construct(private readonly array $data)
    {
        if (!isset($data['connectionId']) || !is_string($data['connectionId'])) {
            throw new UnexpectedValueException('A connection from the server has no "connectionId"');
        }
        $this->connectionId = $data['connectionId'];
        $this->connectionState = is_string($data['connectionState'] ?? null) ? $data['connectionState'] : 'Connected';
        $this->createdAt = is_int($data['createdAt'] ?? null) ? $data['createdAt'] : 0;
    }

    /** @return array<string, mixed> */
    public function jsonSerialize(): array
    {
        return $this->data;
    }
}
