<?php

// A page of archives (GET …/archive): totalCount() is the count of all matching archives on the
// server, getItems() those in this page, newest first.

declare(strict_types=1);

namespace Colloquy;

use ArrayIterator;
use Colloquy\Exception\UnexpectedValueException;
use Countable;
use IteratorAggregate;
use JsonSerializable;
use Traversable;

/** @implements IteratorAggregate<int, Archive> */
final class ArchiveList implements IteratorAggregate, Countable, JsonSerializable
{
    /** @var list<Archive> */
    private array $items;

    /**
     * @internal
     * @param array<string, mixed> $data
     */
    public function __construct(private readonly array $data, ?OpenTok $opentok = null)
    {
        if (!isset($data['items']) || !is_array($data['items']) || !is_int($data['count'] ?? null)) {
            throw new UnexpectedValueException('An archive list from the server needs "count" and "items"');
        }
        $this->items = array_map(static fn ($item) => new Archive(is_array($item) ? $item : [], $opentok), array_values($data['items']));
    }

    public function totalCount(): int
    {
        return $this->data['count'];
    }

    /** @return list<Archive> */
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
