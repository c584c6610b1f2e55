<?php

// Any other failure: 400 bad request, 405, 413, 5xx, or no answer at all (status 0).

declare(strict_types=1);

namespace Colloquy\Exception;

class RequestException extends ApiException
{
}
