<?php

// 409: the call conflicts with the current state (e.g. archiving a relayed session, or with nobody connected).

declare(strict_types=1);

namespace Colloquy\Exception;

class ConflictException extends ApiException
{
}
