<?php

// Marker for every exception this SDK throws: `catch (\Colloquy\Exception\Exception $e)` catches them all.

declare(strict_types=1);

namespace Colloquy\Exception;

interface Exception extends \Throwable
{
}
