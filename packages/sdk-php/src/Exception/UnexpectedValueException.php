<?php

// The server answered with success but not with what the REST API promises (missing fields, not JSON).

declare(strict_types=1);

namespace Colloquy\Exception;

class UnexpectedValueException extends \UnexpectedValueException implements Exception
{
}
