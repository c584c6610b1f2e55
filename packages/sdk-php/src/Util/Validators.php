<?php

// Argument checks made before any request is sent, as the OpenTok PHP SDK makes them (and a few
// more, with the server's own limits), so that a mistake fails at once with a message naming it.

declare(strict_types=1);

namespace Colloquy\Util;

use Colloquy\ArchiveMode;
use Colloquy\Exception\InvalidArgumentException;
use Colloquy\Layout;
use Colloquy\MediaMode;
use Colloquy\OutputMode;
use Colloquy\Role;
use Colloquy\StreamMode;

/** @internal */
final class Validators
{
    /** Token expiry: at most 30 days after creation. */
    public const MAX_TOKEN_TTL = 30 * 86400;
    /** Token connection data, in characters (as the server counts them: UTF-16 code units). */
    public const MAX_CONNECTION_DATA_LENGTH = 1000;
    /** The space-joined initial layout class list of a token. */
    public const MAX_LAYOUT_CLASS_LIST_LENGTH = 1024;
    public const MAX_SIGNAL_TYPE_LENGTH = 128;
    public const MAX_SIGNAL_DATA_BYTES = 8192;
    public const MAX_ARCHIVE_NAME_LENGTH = 80;
    public const ARCHIVE_RESOLUTIONS = ['640x480', '480x640', '1280x720', '720x1280', '1920x1080', '1080x1920'];
    private const MAX_ID_LENGTH = 255;
    private const UUID = '/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i';

    public static function sessionId(mixed $sessionId): string
    {
        if (!is_string($sessionId) || $sessionId === '') {
            throw new InvalidArgumentException('The session ID must be a non-empty string');
        }
        if (strlen($sessionId) > self::MAX_ID_LENGTH) {
            throw new InvalidArgumentException('The session ID is longer than 255 characters');
        }
        return $sessionId;
    }

    /**
     * The API key (or application ID) a session ID carries: "1_" + base64url of
     * "1~<key>~<location>~<createdMs>~<random>~…". Null when it is not a session ID.
     */
    public static function sessionIdKey(string $sessionId): ?string
    {
        if (preg_match('/^[12]_([A-Za-z0-9_-]+={0,2})$/', $sessionId, $m) !== 1) {
            return null;
        }
        $decoded = base64_decode(strtr(rtrim($m[1], '='), '-_', '+/'), true);
        if ($decoded === false) {
            return null;
        }
        $fields = explode('~', $decoded);
        return count($fields) >= 5 && $fields[1] !== '' ? $fields[1] : null;
    }

    public static function sessionBelongsTo(mixed $sessionId, string $apiKey): string
    {
        $sessionId = self::sessionId($sessionId);
        $key = self::sessionIdKey($sessionId);
        if ($key === null) {
            throw new InvalidArgumentException("The session ID $sessionId is not a valid session ID");
        }
        if (strtolower($key) !== strtolower($apiKey)) {
            throw new InvalidArgumentException("The session ID must belong to the API key $apiKey (it belongs to $key)");
        }
        return $sessionId;
    }

    /** A connection or stream ID: a non-empty string of at most 255 characters. */
    public static function id(mixed $id, string $what): string
    {
        if (!is_string($id) || trim($id) === '') {
            throw new InvalidArgumentException("The $what must be a non-empty string");
        }
        if (strlen($id) > self::MAX_ID_LENGTH) {
            throw new InvalidArgumentException("The $what is longer than 255 characters");
        }
        return $id;
    }

    /** Archive IDs are UUIDs (the OpenTok SDKs check them against that pattern). */
    public static function archiveId(mixed $archiveId): string
    {
        if (!is_string($archiveId) || preg_match(self::UUID, $archiveId) !== 1) {
            throw new InvalidArgumentException('The archive ID must be a UUID, got ' . self::show($archiveId));
        }
        return $archiveId;
    }

    public static function role(mixed $role): string
    {
        if (!is_string($role) || !in_array($role, Role::ALL, true)) {
            throw new InvalidArgumentException('Unknown role ' . self::show($role) . ': use one of ' . implode(', ', Role::ALL));
        }
        return $role;
    }

    /** Epoch seconds, in the future and at most 30 days after $createTime. */
    public static function expireTime(mixed $expireTime, int $createTime): int
    {
        if (!is_int($expireTime) && !(is_float($expireTime) && is_finite($expireTime)) && !(is_string($expireTime) && ctype_digit($expireTime))) {
            throw new InvalidArgumentException('expireTime must be a number of seconds since the epoch, got ' . self::show($expireTime));
        }
        $expireTime = (int) floor((float) $expireTime);
        if ($expireTime <= $createTime) {
            throw new InvalidArgumentException("expireTime must be in the future: $expireTime <= $createTime");
        }
        if ($expireTime > $createTime + self::MAX_TOKEN_TTL) {
            throw new InvalidArgumentException('expireTime must be within 30 days of now: ' . $expireTime . ' > ' . ($createTime + self::MAX_TOKEN_TTL));
        }
        return $expireTime;
    }

    public static function connectionData(mixed $data): string
    {
        if (!is_string($data)) {
            throw new InvalidArgumentException('Connection data must be a string, got ' . self::show($data));
        }
        $length = self::utf16Length($data);
        if ($length === null) {
            throw new InvalidArgumentException('Connection data must be valid UTF-8');
        }
        if ($length > self::MAX_CONNECTION_DATA_LENGTH) {
            throw new InvalidArgumentException("Connection data must be at most 1000 characters, got $length");
        }
        return $data;
    }

    /**
     * A list of layout class names (strings without whitespace).
     *
     * @return list<string>
     */
    public static function layoutClassList(mixed $classes, int $maxJoinedLength = PHP_INT_MAX): array
    {
        if (!is_array($classes) || !array_is_list($classes)) {
            throw new InvalidArgumentException('A layout class list must be a list of strings, got ' . self::show($classes));
        }
        foreach ($classes as $class) {
            if (!is_string($class) || $class === '' || preg_match('/\s/', $class) === 1) {
                throw new InvalidArgumentException('Layout class names must be non-empty strings without spaces, got ' . self::show($class));
            }
        }
        if (strlen(implode(' ', $classes)) > $maxJoinedLength) {
            throw new InvalidArgumentException("The layout class list must join to at most $maxJoinedLength characters");
        }
        return $classes;
    }

    public static function mediaMode(mixed $mediaMode): string
    {
        $value = match ($mediaMode) {
            MediaMode::ROUTED, 'routed' => MediaMode::ROUTED,
            MediaMode::RELAYED, 'relayed' => MediaMode::RELAYED,
            default => null,
        };
        if ($value === null) {
            throw new InvalidArgumentException('mediaMode must be MediaMode::ROUTED or MediaMode::RELAYED, got ' . self::show($mediaMode));
        }
        return $value;
    }

    public static function archiveMode(mixed $archiveMode): string
    {
        if (!in_array($archiveMode, [ArchiveMode::MANUAL, ArchiveMode::ALWAYS], true)) {
            throw new InvalidArgumentException('archiveMode must be ArchiveMode::MANUAL or ArchiveMode::ALWAYS, got ' . self::show($archiveMode));
        }
        return $archiveMode;
    }

    public static function location(mixed $location): ?string
    {
        if ($location === null || $location === '') {
            return null;
        }
        if (!is_string($location) || filter_var($location, FILTER_VALIDATE_IP, FILTER_FLAG_IPV4) === false) {
            throw new InvalidArgumentException('location must be an IPv4 address, got ' . self::show($location));
        }
        return $location;
    }

    public static function archiveResolution(mixed $resolution): string
    {
        if (!is_string($resolution) || !in_array($resolution, self::ARCHIVE_RESOLUTIONS, true)) {
            throw new InvalidArgumentException('The resolution must be one of ' . implode(', ', self::ARCHIVE_RESOLUTIONS) . ', got ' . self::show($resolution));
        }
        return $resolution;
    }

    public static function archiveName(mixed $name, int $maxLength = PHP_INT_MAX): string
    {
        if (!is_string($name)) {
            throw new InvalidArgumentException('The archive name must be a string, got ' . self::show($name));
        }
        if ((self::utf16Length($name) ?? PHP_INT_MAX) > $maxLength) {
            throw new InvalidArgumentException("The archive name must be at most $maxLength characters of valid UTF-8");
        }
        return $name;
    }

    public static function outputMode(mixed $outputMode): string
    {
        if (!in_array($outputMode, [OutputMode::COMPOSED, OutputMode::INDIVIDUAL], true)) {
            throw new InvalidArgumentException('outputMode must be OutputMode::COMPOSED or OutputMode::INDIVIDUAL, got ' . self::show($outputMode));
        }
        return $outputMode;
    }

    public static function streamMode(mixed $streamMode): string
    {
        if (!in_array($streamMode, [StreamMode::AUTO, StreamMode::MANUAL], true)) {
            throw new InvalidArgumentException('streamMode must be StreamMode::AUTO or StreamMode::MANUAL, got ' . self::show($streamMode));
        }
        return $streamMode;
    }

    public static function bool(mixed $value, string $what): bool
    {
        if (!is_bool($value)) {
            throw new InvalidArgumentException("$what must be true or false, got " . self::show($value));
        }
        return $value;
    }

    public static function intInRange(mixed $value, int $min, int $max, string $what): int
    {
        if (!is_int($value) || $value < $min || $value > $max) {
            throw new InvalidArgumentException("$what must be an integer from $min to $max, got " . self::show($value));
        }
        return $value;
    }

    public static function layout(mixed $layout): Layout
    {
        if ($layout instanceof Layout) {
            return $layout;
        }
        if (is_array($layout)) {
            return Layout::fromData($layout);
        }
        throw new InvalidArgumentException('The layout must be a Colloquy\Layout (or its array form), got ' . self::show($layout));
    }

    /**
     * A signal's type and data, by the rules the server applies (type ≤ 128 characters of
     * A-Z a-z 0-9 - _ ~; data a string of at most 8 kB in UTF-8).
     *
     * @return array{type: ?string, data: string}
     */
    public static function signal(mixed $payload): array
    {
        if (!is_array($payload)) {
            throw new InvalidArgumentException('The signal payload must be an array with "data" (and optionally "type")');
        }
        $unknown = array_diff(array_keys($payload), ['type', 'data']);
        if ($unknown !== []) {
            throw new InvalidArgumentException('Unknown signal payload keys: ' . implode(', ', $unknown));
        }
        $type = $payload['type'] ?? null;
        $data = $payload['data'] ?? null;
        if (!is_string($data)) {
            throw new InvalidArgumentException('The signal data must be a string, got ' . self::show($data));
        }
        if (strlen($data) > self::MAX_SIGNAL_DATA_BYTES) {
            throw new InvalidArgumentException('The signal data must be at most 8192 bytes, got ' . strlen($data));
        }
        if (preg_match('//u', $data) !== 1) {
            throw new InvalidArgumentException('The signal data must be valid UTF-8');
        }
        if ($type !== null) {
            if (!is_string($type)) {
                throw new InvalidArgumentException('The signal type must be a string, got ' . self::show($type));
            }
            if (strlen($type) > self::MAX_SIGNAL_TYPE_LENGTH) {
                throw new InvalidArgumentException('The signal type must be at most 128 characters, got ' . strlen($type));
            }
            if (preg_match('/^[A-Za-z0-9\-_~]*$/', $type) !== 1) {
                throw new InvalidArgumentException('The signal type may only contain A-Z, a-z, 0-9, "-", "_" and "~", got ' . self::show($type));
            }
        }
        return ['type' => $type, 'data' => $data];
    }

    /** Length as JavaScript counts it (UTF-16 code units); null when not valid UTF-8. */
    public static function utf16Length(string $text): ?int
    {
        $codePoints = preg_match_all('/./us', $text);
        if ($codePoints === false) {
            return null;
        }
        return $codePoints + (int) preg_match_all('/[\x{10000}-\x{10FFFF}]/u', $text);
    }

    /** A short, safe rendering of a bad value for an error message. */
    public static function show(mixed $value): string
    {
        $text = is_string($value) ? '"' . $value . '"' : (is_scalar($value) || $value === null ? var_export($value, true) : get_debug_type($value));
        return strlen($text) > 80 ? substr($text, 0, 77) . '...' : $text;
    }
}
