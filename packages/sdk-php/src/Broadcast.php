<?php

// A live streaming broadcast as the REST API describes it. Read its fields as properties
// ($broadcast->id, $broadcast->status, $broadcast->broadcastUrls['hls'], …).

declare(strict_types=1);

namespace Colloquy;

use Colloquy\Exception\UnexpectedValueException;
use JsonSerializable;

/**
 * @property-read string $id
 * @property-read string $sessionId
 * @property-read int|string $projectId
 * @property-read int $createdAt epoch milliseconds
 * @property-read int $updatedAt
 * @property-read string $resolution
 * @property-read string $status started or stopped
 * @property-read string $streamMode auto or manual
 * @property-read bool $hasAudio
 * @property-read bool $hasVideo
 * @property-read int $maxDuration seconds
 * @property-read ?int $maxBitrate
 * @property-read ?string $multiBroadcastTag
 * @property-read array $settings {hls: {lowLatency, dvr}}
 * @property-read array $broadcastUrls {hls?, hlsStatus?, rtmp: [{id, serverUrl, streamName, status}]}
 * @property-read array $streams [{streamId, hasAudio, hasVideo}]
 */
final class Broadcast implements JsonSerializable
{
    /** @param array<string, mixed> $data */
    public function __construct(private readonly array $data)
    {
        foreach (['id', 'sessionId', 'status'] as $field) {
            if (!isset($data[$field]) || !is_string($data[$field])) {
                throw new UnexpectedValueException("A broadcast from the server needs a string \"$field\"");
            }
        }
        if (!is_int($data['createdAt'] ?? null) || !is_int($data['updatedAt'] ?? null)) {
            throw new UnexpectedValueException('A broadcast from the server needs integer "createdAt" and "updatedAt"');
        }
    }

    public function __get(string $name): mixed
    {
        return $this->data[$name] ?? null;
    }

    public function __isset(string $name): bool
    {
        return isset($this->data[$name]);
    }

    /** @return array<string, mixed> */
    public function toArray(): array
    {
        return $this->data;
    }

    /** @return array<string, mixed> */
    public function jsonSerialize(): array
    {
        return $this->data;
    }
}
