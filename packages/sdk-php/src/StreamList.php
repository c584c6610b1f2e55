<?php

// The streams of a session (GET …/session/{sid}/stream): iterate it, count it, or getItems().

declare(strict_types=1);

namespace Colloquy;

use ArrayIterator;
use Colloquy\Exception\UnexpectedValueException;
use Countable;
use IteratorAggregate;
use JsonSerializable;
use Traversable;

/** @implements IteratorAggregate<int, Stream> */
final class StreamList implements IteratorAggregate, Countable, JsonSerializable
{
    /** @var list<Stream> */
    private array $items;

    /**
     * @internal
     * @param array<string, mixed> $data
     */
    public function __construct(private readonly array $data)
    {
        if (!isset($data['items']) || !is_array($data['items'])) {
            throw new UnexpectedValueException('A stream list from the server has no "items"');
        }
        $this->items = array_map(static fn ($item) => new Stream(is_array($item) ? $item : []), array_values($data['items']));
    }

    public function totalCount(): int
    {
        return is_int($this->data['count'] ?? null) ? $this->data['count'] : count($this->items);
    }

    /** @return list<Stream> */
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
