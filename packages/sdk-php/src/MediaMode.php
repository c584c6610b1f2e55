<?php

// How a session carries media. The values are what POST /session/create takes as
// `p2p.preference`, as in the OpenTok PHP SDK, so code written against it keeps working.

declare(strict_types=1);

namespace Colloquy;

final class MediaMode
{
    /** Media goes through the Colloquy server (needed for archiving and force mute of all). */
    public const ROUTED = 'disabled';
    /** Clients send media peer to peer, relayed by TURN when they must. */
    public const RELAYED = 'enabled';

    private function __construct()
    {
    }
}
