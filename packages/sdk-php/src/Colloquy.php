<?php

// The same client under the product's name: `new Colloquy\Colloquy($apiKey, $apiSecret, [...])`.

declare(strict_types=1);

namespace Colloquy;

final class Colloquy extends OpenTok
{
}
