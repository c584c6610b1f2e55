<?php

// The HTTP layer under the SDK, on ext-curl: signs every call (Credentials), sends JSON or a form,
// decodes JSON answers, and turns every failure into a typed exception carrying the server's
// status, code and message.

declare(strict_types=1);

namespace Colloquy\Util;

use Colloquy\Exception\ApiException;
use Colloquy\Exception\RequestException;
use Colloquy\Exception\UnexpectedValueException;
use CurlHandle;

/** @internal */
final class HttpClient
{
    private ?CurlHandle $handle = null;

    public function __construct(
        private readonly Credentials $credentials,
        /** Base URL without a trailing slash, e.g. http://127.0.0.1:3000 */
        public readonly string $apiUrl,
        /** Whole-request timeout in seconds. */
        private readonly float $timeout,
        private readonly string $userAgent
    ) {
    }

    /**
     * Calls the REST API. `$path` is absolute ("/session/create") or relative to the project tree
     * ("archive" means /v2/project/{key}/archive). Exactly one of `$json` / `$form` may be given;
     * with neither, the request has no body.
     *
     * @param array<string, scalar> $query
     * @param array<string, mixed>|list<mixed>|null $json
     * @param array<string, string>|null $form
     */
    public function request(string $method, string $path, ?array $json = null, ?array $form = null, array $query = []): HttpResponse
    {
        $url = $this->apiUrl . (str_starts_with($path, '/') ? $path : '/v2/project/' . rawurlencode($this->credentials->id) . '/' . $path);
        if ($query !== []) {
            $url .= '?' . http_build_query($query, '', '&', PHP_QUERY_RFC3986);
        }
        $headers = [
            $this->credentials->authHeader(),
            'Accept: application/json',
            'User-Agent: ' . $this->userAgent,
        ];
        $body = null;
        if ($json !== null) {
            // An empty PHP array is a JSON object here: every body the API takes is an object.
            $body = $json === [] ? '{}' : json_encode($json, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR);
            $headers[] = 'Content-Type: application/json';
        } elseif ($form !== null) {
            $body = http_build_query($form, '', '&', PHP_QUERY_RFC1738);
            $headers[] = 'Content-Type: application/x-www-form-urlencoded';
        } elseif ($method !== 'GET' && $method !== 'HEAD') {
            $headers[] = 'Content-Length: 0';
        }
        // curl adds "Expect: 100-continue" to larger bodies, which costs a round trip for nothing.
        $headers[] = 'Expect:';

        $responseHeaders = [];
        $handle = $this->handle();
        curl_setopt_array($handle, [
            CURLOPT_URL => $url,
            CURLOPT_CUSTOMREQUEST => $method,
            CURLOPT_HTTPHEADER => $headers,
            CURLOPT_RETURNTRANSFER => true,
            CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_PROTOCOLS => CURLPROTO_HTTP | CURLPROTO_HTTPS,
            CURLOPT_TIMEOUT_MS => (int) ceil($this->timeout * 1000),
            CURLOPT_CONNECTTIMEOUT_MS => (int) ceil(min($this->timeout, 10.0) * 1000),
            CURLOPT_NOSIGNAL => true,
            CURLOPT_HEADERFUNCTION => static function ($curl, string $line) use (&$responseHeaders): int {
                $colon = strpos($line, ':');
                if ($colon !== false) {
                    $responseHeaders[strtolower(trim(substr($line, 0, $colon)))] = trim(substr($line, $colon + 1));
                } elseif (str_starts_with($line, 'HTTP/')) {
                    $responseHeaders = []; // a new response (after a 1xx) starts
                }
                return strlen($line);
            },
        ]);
        if ($body !== null) {
            curl_setopt($handle, CURLOPT_POSTFIELDS, $body);
        }
        $text = curl_exec($handle);
        if ($text === false) {
            $error = curl_error($handle);
            $errno = curl_errno($handle);
            $this->handle = null; // never reuse a handle in an unknown state
            $what = $errno === CURLE_OPERATION_TIMEDOUT ? 'timed out' : 'failed';
            throw new RequestException("$method $url $what: $error", 0, null, $method, $url);
        }
        $status = (int) curl_getinfo($handle, CURLINFO_RESPONSE_CODE);
        $contentType = strtolower($responseHeaders['content-type'] ?? '');
        $isJson = preg_match('~^application/(.+\+)?json\b~', $contentType) === 1;
        $data = null;
        $jsonError = null;
        if ($isJson && trim((string) $text) !== '') {
            try {
                $data = json_decode((string) $text, true, 512, JSON_THROW_ON_ERROR);
            } catch (\JsonException $e) {
                $jsonError = $e;
            }
        }
        if ($status >= 300) {
            throw ApiException::forStatus($status, self::errorMessage($status, $data, (string) $text), self::errorCode($data), $method, $url);
        }
        if ($jsonError !== null) {
            throw new UnexpectedValueException("$method $url answered $status with invalid JSON: " . $jsonError->getMessage(), 0, $jsonError);
        }
        return new HttpResponse($status, $contentType, (string) $text, $data, $method, $url);
    }

    private function handle(): CurlHandle
    {
        // One handle per client, reset between calls: keeps the connection alive across calls.
        if ($this->handle === null) {
            $this->handle = curl_init();
        } else {
            curl_reset($this->handle);
        }
        return $this->handle;
    }

    private static function errorMessage(int $status, mixed $data, string $text): string
    {
        if (is_array($data) && isset($data['message']) && is_string($data['message']) && $data['message'] !== '') {
            return $data['message'];
        }
        $text = trim($text);
        if ($text !== '' && strlen($text) <= 1000 && !is_array($data)) {
            return $text;
        }
        return "HTTP $status";
    }

    private static function errorCode(mixed $data): ?int
    {
        return is_array($data) && isset($data['code']) && is_int($data['code']) ? $data['code'] : null;
    }
}
