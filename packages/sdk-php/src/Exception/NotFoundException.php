<?php

// 404: the session, connection, stream or archive does not exist, or nobody is connected.

declare(strict_types=1);

namespace Colloquy\Exception;

class NotFoundException extends ApiException
{
}
