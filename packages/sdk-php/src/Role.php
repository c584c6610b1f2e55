<?php

// Token roles: what a client holding the token may do in the session (the server enforces them).

declare(strict_types=1);

namespace Colloquy;

final class Role
{
    /** Subscribe and signal. */
    public const SUBSCRIBER = 'subscriber';
    /** Publish, subscribe and signal (the default). */
    public const PUBLISHER = 'publisher';
    /** Publish and signal, but not subscribe. */
    public const PUBLISHER_ONLY = 'publisheronly';
    /** A publisher that may also force others to disconnect, unpublish or mute. */
    public const MODERATOR = 'moderator';

    public const ALL = [self::SUBSCRIBER, self::PUBLISHER, self::PUBLISHER_ONLY, self::MODERATOR];

    private function __construct()
    {
    }
}
