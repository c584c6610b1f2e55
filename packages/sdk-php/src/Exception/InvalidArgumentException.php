<?php

// An argument refused before any request is sent (bad session ID, role, expiry, layout, …).

declare(strict_types=1);

namespace Colloquy\Exception;

class InvalidArgumentException extends \InvalidArgumentException implements Exception
{
}
