<?php

// Compact JWS signing, HS256 (HMAC-SHA256 with an API secret) and RS256 (RSA-SHA256 with an
// application's private key), without a third-party library: REST authentication and client
// tokens are the only JWTs this SDK makes, and it never needs to verify one.

declare(strict_types=1);

namespace Colloquy\Util;

use Colloquy\Exception\InvalidArgumentException;
use OpenSSLAsymmetricKey;

/** @internal */
final class Jwt
{
    /**
     * @param array<string, mixed> $claims
     * @param string|OpenSSLAsymmetricKey $key the secret for HS256, a private key for RS256
     */
    public static function sign(array $claims, string|OpenSSLAsymmetricKey $key, string $alg): string
    {
        $header = ['alg' => $alg, 'typ' => 'JWT'];
        $input = self::base64Url(self::json($header)) . '.' . self::base64Url(self::json($claims));
        if ($alg === 'HS256') {
            if (!is_string($key) || $key === '') {
                throw new InvalidArgumentException('HS256 needs a non-empty secret');
            }
            $signature = hash_hmac('sha256', $input, $key, true);
        } elseif ($alg === 'RS256') {
            if (!$key instanceof OpenSSLAsymmetricKey) {
                throw new InvalidArgumentException('RS256 needs a private key');
            }
            $signature = '';
            if (!openssl_sign($input, $signature, $key, OPENSSL_ALGO_SHA256)) {
                throw new InvalidArgumentException('RS256 signing failed: ' . (openssl_error_string() ?: 'unknown OpenSSL error'));
            }
        } else {
            throw new InvalidArgumentException("Unsupported JWT algorithm $alg");
        }
        return $input . '.' . self::base64Url($signature);
    }

    public static function base64Url(string $bytes): string
    {
        return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
    }

    /** @param array<string, mixed> $value */
    private static function json(array $value): string
    {
        return json_encode($value, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR);
    }
}
