<?php

// A stream published in a session, as GET …/session/{sid}/stream[/{id}] describes it.

declare(strict_types=1);

namespace Colloquy;

use Colloquy\Exception\UnexpectedValueException;
use JsonSerializable;

final class Stream implements JsonSerializable
{
    public readonly string $id;
    /** "camera", "screen" or "custom". */
    public readonly string $videoType;
    public readonly string $name;
    /** @var list<string> */
    public readonly array $layoutClassList;

    /**
     * @internal
     * @param array<string, mixed> $data
     */
    public function __construct(private readonly array $data)
    {
        if (!isset($data['id']) || !is_string($data['id'])) {
            throw new UnexpectedValueException('A stream from the server has no "id"');
        }
        $this->id = $data['id'];
        $this->videoType = is_string($data['videoType'] ?? null) ? $data['videoType'] : 'camera';
        $this->name = is_string($data['name'] ?? null) ? $data['name'] : '';
        $classes = $data['layoutClassList'] ?? [];
        $this->layoutClassList = is_array($classes) ? array_values(array_filter($classes, 'is_string')) : [];
    }

    /** @return array<string, mixed> the server's JSON, as it came */
    public function jsonSerialize(): array
    {
        return $this->data;
    }
}
