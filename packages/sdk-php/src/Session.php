<?php

// A session created on the server: its ID and the options it was created with. Hand the ID to
// clients (OT.initSession) together with a token from generateToken().

declare(strict_types=1);

namespace Colloquy;

use Stringable;

final class Session implements Stringable
{
    /** @internal Sessions come from OpenTok::createSession(). */
    public function __construct(
        private readonly OpenTok $opentok,
        private readonly string $sessionId,
        private readonly string $mediaMode,
        private readonly string $archiveMode,
        private readonly ?string $location,
        private readonly bool $e2ee
    ) {
    }

    public function getSessionId(): string
    {
        return $this->sessionId;
    }

    /** MediaMode::ROUTED or MediaMode::RELAYED. */
    public function getMediaMode(): string
    {
        return $this->mediaMode;
    }

    /** ArchiveMode::MANUAL or ArchiveMode::ALWAYS. */
    public function getArchiveMode(): string
    {
        return $this->archiveMode;
    }

    /** The IPv4 location hint given at creation, or null. */
    public function getLocation(): ?string
    {
        return $this->location;
    }

    public function getE2EE(): bool
    {
        return $this->e2ee;
    }

    /**
     * A token for this session; see OpenTok::generateToken() for the options.
     *
     * @param array<string, mixed> $options
     */
    public function generateToken(array $options = [], bool $legacy = false): string
    {
        return $this->opentok->generateToken($this->sessionId, $options, $legacy);
    }

    public function __toString(): string
    {
        return $this->sessionId;
    }
}
