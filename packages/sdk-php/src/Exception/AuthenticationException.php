<?php

// 401 or 403: missing or wrong credentials, or a project key that is not yours.

declare(strict_types=1);

namespace Colloquy\Exception;

class AuthenticationException extends ApiException
{
}
