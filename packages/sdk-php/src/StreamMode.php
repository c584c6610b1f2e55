<?php

// Which streams an archive records.

declare(strict_types=1);

namespace Colloquy;

final class StreamMode
{
    /** Every stream in the session (the default). */
    public const AUTO = 'auto';
    /** Only streams added with OpenTok::addStreamToArchive(). */
    public const MANUAL = 'manual';

    private function __construct()
    {
    }
}
