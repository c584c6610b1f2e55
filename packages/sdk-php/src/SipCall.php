<?php

// A dialled SIP call, as POST …/dial answers it: hang it up with forceDisconnect($sessionId, $connectionId).

declare(strict_types=1);

namespace Colloquy;

use Colloquy\Exception\UnexpectedValueException;
use JsonSerializable;

final class SipCall implements JsonSerializable
{
    public readonly string $id;
    /** The SIP participant's connection in the session. */
    public readonly string $connectionId;
    /** The phone's audio stream in the session. */
    public readonly string $streamId;

    /**
     * @internal
     * @param array<string, mixed> $data
     */
    public function __construct(private readonly array $data)
    {
        foreach (['id', 'connectionId', 'streamId'] as $field) {
            if (!isset($data[$field]) || !is_string($data[$field])) {
                throw new UnexpectedValueException('A SIP call from the server has no "' . $field . '"');
            }
        }
        $this->id = $data['id'];
        $this->connectionId = $data['connectionId'];
        $this->streamId = $data['streamId'];
    }

    /** @return array<string, mixed> the server's JSON, as it came */
    public function jsonSerialize(): array
    {
        return $this->data;
    }
}
