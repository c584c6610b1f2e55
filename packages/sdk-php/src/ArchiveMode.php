<?php

// Whether a session is recorded automatically.

declare(strict_types=1);

namespace Colloquy;

final class ArchiveMode
{
    /** Archives are started with OpenTok::startArchive() (the default). */
    public const MANUAL = 'manual';
    /** An archive starts when the first client connects (routed sessions only). */
    public const ALWAYS = 'always';

    private function __construct()
    {
    }
}
