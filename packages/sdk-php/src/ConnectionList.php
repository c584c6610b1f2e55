<?php

// The connections of a session (GET …/session/{sid}/connection): iterate it, count it, or getItems().

declare(strict_types=1);

namespace Colloquy;

use ArrayIterator;
use Colloquy\Exception\UnexpectedValueException;
use Countable;
use IteratorAggregate;
use JsonSerializable;
use Traversable;

/** @implements IteratorAggregate<int, Connection> */
final class ConnectionList implements IteratorAggregate, Countable, JsonSerializable
{
    /** @var list<Connection> */
    private array $items;

    /**
     * @internal
     * @param array<string, mixed> $data
     */
    public function __construct(private readonly array $data)
    {
        if (!isset($data['items']) || !is_array($data['items'])) {
            throw new UnexpectedValueException('A connection list from the server has no "items"');
        }
        $this->items = array_map(static fn ($item) => new Connection(is_array($item) ? $item : []), array_values($data['items']));
    }

    public function totalCount(): int
    {
        return is_int($this->data['count'] ?? null) ? $this->data['count'] : count($this->items);
    }

    public function getProjectId(): ?string
    {
        $id = $this->data['projectId'] ?? null;
        return is_string($id) || is_int($id) ? (string) $id : null;
    }

    public function getSessionId(): ?string
    {
        return is_string($this->data['sessionId'] ?? null) ? $this->data['sessionId'] : null;
    }

    /** @return list<Connection> */
    public function getItems(): array
    {
        return $this->items;
    }

    public function getIterator(): Traversable
    {
        return new ArrayIterator($this->items);
    }

    public function count(): int
    {
        return count($this->items);
    }

    /** @return array<string, mixed> */
    public function jsonSerialize(): array
    {
        return $this->data;
    }
}
