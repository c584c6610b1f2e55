<?php

// Who the SDK speaks for: a project (numeric API key + API secret; REST calls carry an HS256
// X-OPENTOK-AUTH JWT) or a Vonage-style application (UUID + RSA private key; REST calls carry an
// RS256 `Authorization: Bearer` JWT). Chosen as the OpenTok PHP SDK does: a UUID with a private key
// (PEM text, or the path of a PEM file) is an application, anything else a project.

declare(strict_types=1);

namespace Colloquy\Util;

use Colloquy\Exception\InvalidArgumentException;
use OpenSSLAsymmetricKey;

/** @internal */
final class Credentials
{
    /** Lifetime of a REST JWT: the 5 minutes every OpenTok SDK uses (Vonage's library uses 15). */
    private const PROJECT_JWT_TTL = 300;
    private const APPLICATION_JWT_TTL = 900;
    private const UUID = '/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i';

    private function __construct(
        /** API key, or the application ID (lower case). */
        public readonly string $id,
        #[\SensitiveParameter] private readonly ?string $secret,
        private readonly ?OpenSSLAsymmetricKey $privateKey
    ) {
    }

    public static function from(string|int $apiKey, #[\SensitiveParameter] string $secretOrPrivateKey): self
    {
        $apiKey = trim((string) $apiKey);
        if ($apiKey === '') {
            throw new InvalidArgumentException('The API key (or application ID) must not be empty');
        }
        if ($secretOrPrivateKey === '') {
            throw new InvalidArgumentException('The API secret (or private key) must not be empty');
        }
        if (preg_match(self::UUID, $apiKey) === 1) {
            $pem = self::privateKeyPem($secretOrPrivateKey);
            if ($pem !== null) {
                $key = openssl_pkey_get_private($pem);
                if ($key === false) {
                    throw new InvalidArgumentException('The private key could not be read: ' . (openssl_error_string() ?: 'invalid PEM'));
                }
                $details = openssl_pkey_get_details($key);
                if ($details === false || $details['type'] !== OPENSSL_KEYTYPE_RSA) {
                    throw new InvalidArgumentException('The private key must be an RSA key (RS256)');
                }
                return new self(strtolower($apiKey), null, $key);
            }
        }
        if (str_contains($secretOrPrivateKey, '-----BEGIN')) {
            throw new InvalidArgumentException('A private key needs an application ID (a UUID) as the first argument');
        }
        return new self($apiKey, $secretOrPrivateKey, null);
    }

    /** The PEM text when $value is one or names a readable file holding one; null otherwise. */
    private static function privateKeyPem(string $value): ?string
    {
        if (preg_match('/-----BEGIN (RSA |ENCRYPTED )?PRIVATE KEY-----/', $value) === 1) {
            return $value;
        }
        if (strlen($value) < 4096 && !str_contains($value, "\0") && is_file($value) && is_readable($value)) {
            $text = file_get_contents($value);
            if (is_string($text) && preg_match('/-----BEGIN (RSA |ENCRYPTED )?PRIVATE KEY-----/', $text) === 1) {
                return $text;
            }
        }
        return null;
    }

    public function isApplication(): bool
    {
        return $this->privateKey !== null;
    }

    /** The authentication header for one REST call, as "Name: value". */
    public function authHeader(?int $now = null): string
    {
        $iat = $now ?? time();
        if ($this->privateKey !== null) {
            $jwt = Jwt::sign([
                'application_id' => $this->id,
                'iat' => $iat,
                'exp' => $iat + self::APPLICATION_JWT_TTL,
                'jti' => self::uuid4(),
            ], $this->privateKey, 'RS256');
            return 'Authorization: Bearer ' . $jwt;
        }
        $jwt = Jwt::sign([
            'iss' => $this->id,
            'ist' => 'project',
            'iat' => $iat,
            'exp' => $iat + self::PROJECT_JWT_TTL,
            'jti' => self::uuid4(),
        ], (string) $this->secret, 'HS256');
        return 'X-OPENTOK-AUTH: ' . $jwt;
    }

    /**
     * Signs client-token claims: HS256 with the API secret, or RS256 with the private key.
     *
     * @param array<string, mixed> $claims
     */
    public function signClientToken(array $claims): string
    {
        return $this->privateKey !== null
            ? Jwt::sign($claims, $this->privateKey, 'RS256')
            : Jwt::sign($claims, (string) $this->secret, 'HS256');
    }

    /** Lower-case hex HMAC-SHA1 of a T1 token's data string; projects only. */
    public function signT1(string $dataString): string
    {
        if ($this->secret === null) {
            throw new InvalidArgumentException('T1 tokens are signed with an API secret; an application signs JWT tokens only');
        }
        return hash_hmac('sha1', $dataString, $this->secret);
    }

    public static function uuid4(): string
    {
        $bytes = random_bytes(16);
        $bytes[6] = chr((ord($bytes[6]) & 0x0f) | 0x40);
        $bytes[8] = chr((ord($bytes[8]) & 0x3f) | 0x80);
        return vsprintf('%s%s-%s-%s-%s-%s%s%s', str_split(bin2hex($bytes), 4));
    }

    /** Never print the secret or the key (var_dump, print_r, exceptions with arguments). */
    public function __debugInfo(): array
    {
        return ['id' => $this->id, 'kind' => $this->isApplication() ? 'application' : 'project'];
    }
}
