<?php

// What an archive produces.

declare(strict_types=1);

namespace Colloquy;

final class OutputMode
{
    /** One MP4 file with every stream laid out (the default). */
    public const COMPOSED = 'composed';
    /** A ZIP file with one file per stream and a JSON manifest. */
    public const INDIVIDUAL = 'individual';

    private function __construct()
    {
    }
}
