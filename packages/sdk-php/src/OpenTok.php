<?php

// The SDK's entry point, with the public API of the OpenTok PHP SDK (OpenTok\OpenTok) pointed at a
// Colloquy server: sessions, client tokens, archives, signals, moderation and streams. Arguments are
// checked before any request (InvalidArgumentException); a refused call throws the ApiException
// subclass for its status, carrying the server's message.

declare(strict_types=1);

namespace Colloquy;

use Colloquy\Exception\InvalidArgumentException;
use Colloquy\Exception\NotFoundException;
use Colloquy\Exception\UnexpectedValueException;
use Colloquy\Util\Credentials;
use Colloquy\Util\HttpClient;
use Colloquy\Util\Validators;

class OpenTok
{
    public const VERSION = '0.1.0';
    public const DEFAULT_API_URL = 'http://127.0.0.1:3000';
    /** Seconds a REST call may take, unless the `timeout` option says otherwise. */
    public const DEFAULT_TIMEOUT = 20.0;
    /** Token lifetime when no expireTime is given: 24 hours. */
    public const DEFAULT_TOKEN_TTL = 86400;

    private readonly Credentials $credentials;
    private readonly HttpClient $client;

    /**
     * new OpenTok($apiKey, $apiSecret, ['apiUrl' => 'http://127.0.0.1:3000']) for a project, or
     * new OpenTok($applicationId, $privateKeyPemOrPath, [...]) for a Vonage-style application (an
     * application ID is a UUID; the key is PEM text or the path of a PEM file).
     *
     * Options: `apiUrl` (your Colloquy server's base URL; default http://127.0.0.1:3000),
     * `timeout` (seconds per REST call; default 20), `app` (['name' => …, 'version' => …], added to
     * the User-Agent).
     *
     * @param array{apiUrl?: string, timeout?: int|float, app?: array{name: string, version: string}} $options
     */
    public function __construct(string|int $apiKey, #[\SensitiveParameter] string $apiSecret, array $options = [])
    {
        self::refuseUnknown($options, ['apiUrl', 'timeout', 'app'], 'option');
        $this->credentials = Credentials::from($apiKey, $apiSecret);

        $apiUrl = $options['apiUrl'] ?? self::DEFAULT_API_URL;
        if (!is_string($apiUrl) || filter_var($apiUrl, FILTER_VALIDATE_URL) === false || !preg_match('~^https?://~i', $apiUrl)) {
            throw new InvalidArgumentException('apiUrl must be an http(s) URL, got ' . Validators::show($apiUrl));
        }
        $timeout = $options['timeout'] ?? self::DEFAULT_TIMEOUT;
        if ((!is_int($timeout) && !is_float($timeout)) || !($timeout > 0) || !is_finite((float) $timeout)) {
            throw new InvalidArgumentException('timeout must be a positive number of seconds, got ' . Validators::show($timeout));
        }
        $userAgent = 'Colloquy-PHP-SDK/' . self::VERSION . ' php/' . PHP_MAJOR_VERSION . '.' . PHP_MINOR_VERSION;
        if (isset($options['app'])) {
            $app = $options['app'];
            if (!is_array($app) || !is_string($app['name'] ?? null) || !is_string($app['version'] ?? null) || preg_match('/[\r\n]/', $app['name'] . $app['version'])) {
                throw new InvalidArgumentException('The app option must be ["name" => string, "version" => string]');
            }
            $userAgent .= ' ' . $app['name'] . '/' . $app['version'];
        }
        $this->client = new HttpClient($this->credentials, rtrim($apiUrl, '/'), (float) $timeout, $userAgent);
    }

    /** The API key, or the application ID in application mode. */
    public function getApiKey(): string
    {
        return $this->credentials->id;
    }

    public function getApiUrl(): string
    {
        return $this->client->apiUrl;
    }

    /** True when this client signs with an application's private key rather than an API secret. */
    public function isApplication(): bool
    {
        return $this->credentials->isApplication();
    }

    // ---- Sessions and tokens ------------------------------------------------------------------

    /**
     * Creates a session. Options (all optional):
     * - `mediaMode`: MediaMode::ROUTED (the default, through the Colloquy SFU, as in our Node SDK and
     *   @vonage/video; the OpenTok PHP SDK defaulted to RELAYED) or MediaMode::RELAYED;
     * - `archiveMode`: ArchiveMode::MANUAL (default) or ArchiveMode::ALWAYS (routed only);
     * - `location`: an IPv4 address hint;
     * - `e2ee`: end-to-end encryption (routed only, not with ArchiveMode::ALWAYS);
     * - `archiveName` (≤ 80 characters) and `archiveResolution` (default 640x480): for ALWAYS only.
     *
     * @param array{mediaMode?: string, archiveMode?: string, location?: ?string, e2ee?: bool, archiveName?: string, archiveResolution?: string} $options
     */
    public function createSession(array $options = []): Session
    {
        self::refuseUnknown($options, ['mediaMode', 'archiveMode', 'location', 'e2ee', 'archiveName', 'archiveResolution'], 'session option');
        $archiveMode = Validators::archiveMode($options['archiveMode'] ?? ArchiveMode::MANUAL);
        $e2ee = Validators::bool($options['e2ee'] ?? false, 'e2ee');
        $mediaMode = array_key_exists('mediaMode', $options) ? Validators::mediaMode($options['mediaMode']) : MediaMode::ROUTED;
        if ($archiveMode === ArchiveMode::ALWAYS && $mediaMode !== MediaMode::ROUTED) {
            throw new InvalidArgumentException('A session must be routed to be archived: ArchiveMode::ALWAYS needs MediaMode::ROUTED');
        }
        if ($e2ee && $mediaMode !== MediaMode::ROUTED) {
            throw new InvalidArgumentException('End-to-end encryption (e2ee) needs MediaMode::ROUTED');
        }
        if ($e2ee && $archiveMode === ArchiveMode::ALWAYS) {
            throw new InvalidArgumentException('ArchiveMode::ALWAYS cannot be used with e2ee: encrypted media cannot be archived');
        }
        $location = Validators::location($options['location'] ?? null);

        $form = ['p2p.preference' => $mediaMode, 'archiveMode' => $archiveMode, 'e2ee' => $e2ee ? 'true' : 'false'];
        if ($location !== null) {
            $form['location'] = $location;
        }
        foreach (['archiveName', 'archiveResolution'] as $key) {
            if (isset($options[$key]) && $archiveMode === ArchiveMode::MANUAL) {
                throw new InvalidArgumentException("Cannot set $key when the archive mode is manual");
            }
        }
        if ($archiveMode === ArchiveMode::ALWAYS) {
            if (isset($options['archiveName'])) {
                $form['archiveName'] = Validators::archiveName($options['archiveName'], Validators::MAX_ARCHIVE_NAME_LENGTH);
            }
            $form['archiveResolution'] = Validators::archiveResolution($options['archiveResolution'] ?? '640x480');
        }

        $answer = $this->client->request('POST', '/session/create', form: $form)->json();
        $sessionId = $answer[0]['session_id'] ?? null;
        if (!is_string($sessionId) || $sessionId === '') {
            throw new UnexpectedValueException('The server created a session but answered without a session_id');
        }
        return new Session($this, $sessionId, $mediaMode, $archiveMode, $location, $e2ee);
    }

    /**
     * Generates a client token for a session of this project, locally (no server call).
     * Options: `role` (Role::PUBLISHER by default), `expireTime` (epoch seconds; default 24 hours
     * from now, at most 30 days), `data` (connection data other clients see, ≤ 1000 characters),
     * `initialLayoutClassList` (layout classes for this connection's streams).
     *
     * The token is a JWT (HS256 with the API secret, or RS256 with the application's private key);
     * `$legacy = true` makes a legacy T1 token instead (projects only).
     *
     * @param array{role?: string, expireTime?: int, data?: ?string, initialLayoutClassList?: list<string>} $options
     */
    public function generateToken(string $sessionId, array $options = [], bool $legacy = false): string
    {
        self::refuseUnknown($options, ['role', 'expireTime', 'data', 'initialLayoutClassList'], 'token option');
        $sessionId = Validators::sessionBelongsTo($sessionId, $this->credentials->id);
        $now = time();
        $role = Validators::role($options['role'] ?? Role::PUBLISHER);
        $expireTime = isset($options['expireTime']) ? Validators::expireTime($options['expireTime'], $now) : $now + self::DEFAULT_TOKEN_TTL;
        $data = isset($options['data']) ? Validators::connectionData($options['data']) : null;
        $classes = implode(' ', Validators::layoutClassList($options['initialLayoutClassList'] ?? [], Validators::MAX_LAYOUT_CLASS_LIST_LENGTH));

        if ($legacy) {
            $fields = ['session_id' => $sessionId, 'create_time' => $now, 'role' => $role, 'nonce' => random_int(1, PHP_INT_MAX), 'expire_time' => $expireTime];
            if ($data !== null) {
                $fields['connection_data'] = $data;
            }
            if ($classes !== '') {
                $fields['initial_layout_class_list'] = $classes;
            }
            $dataString = http_build_query($fields, '', '&', PHP_QUERY_RFC1738);
            $signature = $this->credentials->signT1($dataString);
            return 'T1==' . base64_encode("partner_id={$this->credentials->id}&sig=$signature:$dataString");
        }

        if ($this->credentials->isApplication()) {
            // The claim set @vonage/video's generateClientToken uses.
            $claims = [
                'scope' => 'session.connect',
                'session_id' => $sessionId,
                'role' => $role,
                'initial_layout_class_list' => $classes,
                'exp' => $expireTime,
                'sub' => 'video',
                'acl' => ['paths' => ['/session/**' => new \stdClass()]],
                'jti' => Credentials::uuid4(),
                'iat' => $now,
                'application_id' => $this->credentials->id,
            ];
        } else {
            // The claim set of opentok-node 2.23 (the OpenTok SDKs' newest), which every server reads.
            $claims = [
                'iss' => $this->credentials->id,
                'ist' => 'project',
                'iat' => $now,
                'exp' => $expireTime,
                'session_id' => $sessionId,
                'create_time' => $now,
                'nonce' => random_int(1, PHP_INT_MAX),
                'role' => $role,
                'expire_time' => $expireTime,
                'initial_layout_class_list' => $classes,
                'scope' => 'session.connect',
            ];
        }
        if ($data !== null) {
            $claims['connection_data'] = $data;
        }
        return $this->credentials->signClientToken($claims);
    }

    // ---- Archives -----------------------------------------------------------------------------

    /**
     * Starts recording a routed session that has clients connected. Options (all optional):
     * `name`, `hasAudio` (true), `hasVideo` (true), `outputMode` (OutputMode::COMPOSED),
     * `streamMode` (StreamMode::AUTO), and for composed archives `resolution`, `layout` (a Layout),
     * `maxBitrate` (100000–6000000) or `quantizationParameter` (15–40); `multiArchiveTag` to run
     * several archives at once; `hasTranscription` with `transcriptionProperties`
     * (['primaryLanguageCode' => 'en-US', 'hasSummary' => bool]).
     * A string instead of the array is taken as the name (the OpenTok SDK's old signature).
     *
     * @param array<string, mixed>|string $options
     */
    public function startArchive(string $sessionId, array|string $options = []): Archive
    {
        if (is_string($options)) {
            $options = ['name' => $options];
        }
        self::refuseUnknown($options, [
            'name', 'hasAudio', 'hasVideo', 'outputMode', 'streamMode', 'resolution', 'layout', 'maxBitrate',
            'quantizationParameter', 'multiArchiveTag', 'hasTranscription', 'transcriptionProperties',
        ], 'archive option');
        $body = [
            'sessionId' => Validators::sessionBelongsTo($sessionId, $this->credentials->id),
            'hasAudio' => Validators::bool($options['hasAudio'] ?? true, 'hasAudio'),
            'hasVideo' => Validators::bool($options['hasVideo'] ?? true, 'hasVideo'),
            'outputMode' => Validators::outputMode($options['outputMode'] ?? OutputMode::COMPOSED),
            'streamMode' => Validators::streamMode($options['streamMode'] ?? StreamMode::AUTO),
        ];
        if (!$body['hasAudio'] && !$body['hasVideo']) {
            throw new InvalidArgumentException('An archive needs audio or video: hasAudio and hasVideo cannot both be false');
        }
        if (isset($options['name'])) {
            $body['name'] = Validators::archiveName($options['name']);
        }
        $composedOnly = ['resolution', 'layout', 'maxBitrate', 'quantizationParameter'];
        if ($body['outputMode'] === OutputMode::INDIVIDUAL) {
            foreach ($composedOnly as $key) {
                if (isset($options[$key])) {
                    throw new InvalidArgumentException("$key can only be set for composed archives, not individual ones");
                }
            }
        }
        if (isset($options['resolution'])) {
            $body['resolution'] = Validators::archiveResolution($options['resolution']);
        }
        if (isset($options['layout'])) {
            $body['layout'] = Validators::layout($options['layout'])->toArray();
        }
        if (isset($options['maxBitrate'], $options['quantizationParameter'])) {
            throw new InvalidArgumentException('Set maxBitrate or quantizationParameter, not both');
        }
        if (isset($options['maxBitrate'])) {
            $body['maxBitrate'] = Validators::intInRange($options['maxBitrate'], 100000, 6000000, 'maxBitrate');
        }
        if (isset($options['quantizationParameter'])) {
            $body['quantizationParameter'] = Validators::intInRange($options['quantizationParameter'], 15, 40, 'quantizationParameter');
        }
        if (isset($options['multiArchiveTag'])) {
            if (!is_string($options['multiArchiveTag']) || $options['multiArchiveTag'] === '' || strlen($options['multiArchiveTag']) > 255) {
                throw new InvalidArgumentException('multiArchiveTag must be a non-empty string of at most 255 characters');
            }
            $body['multiArchiveTag'] = $options['multiArchiveTag'];
        }
        if (isset($options['hasTranscription'])) {
            $body['hasTranscription'] = Validators::bool($options['hasTranscription'], 'hasTranscription');
        }
        if (isset($options['transcriptionProperties'])) {
            if (($body['hasTranscription'] ?? false) !== true) {
                throw new InvalidArgumentException('transcriptionProperties needs hasTranscription set to true');
            }
            $props = $options['transcriptionProperties'];
            if (!is_array($props)) {
                throw new InvalidArgumentException('transcriptionProperties must be an array');
            }
            self::refuseUnknown($props, ['primaryLanguageCode', 'hasSummary'], 'transcription property');
            if (isset($props['primaryLanguageCode']) && (!is_string($props['primaryLanguageCode']) || preg_match('/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/', $props['primaryLanguageCode']) !== 1)) {
                throw new InvalidArgumentException('primaryLanguageCode must be a BCP-47 language code such as "en-US"');
            }
            if (isset($props['hasSummary'])) {
                Validators::bool($props['hasSummary'], 'hasSummary');
            }
            $body['transcriptionProperties'] = $props;
        }
        return new Archive($this->client->request('POST', 'archive', json: $body)->json(), $this);
    }

    /** Stops recording an archive. */
    public function stopArchive(string $archiveId): Archive
    {
        $archiveId = Validators::archiveId($archiveId);
        return new Archive($this->client->request('POST', 'archive/' . rawurlencode($archiveId) . '/stop')->json(), $this);
    }

    public function getArchive(string $archiveId): Archive
    {
        $archiveId = Validators::archiveId($archiveId);
        return new Archive($this->client->request('GET', 'archive/' . rawurlencode($archiveId))->json(), $this);
    }

    /** Deletes an archive's recording (once it is available, failed or expired; 409 before). */
    public function deleteArchive(string $archiveId): bool
    {
        $archiveId = Validators::archiveId($archiveId);
        $this->client->request('DELETE', 'archive/' . rawurlencode($archiveId));
        return true;
    }

    /**
     * Lists archives, newest first: `$count` of them (server default 50, at most 1000) after
     * skipping `$offset`, optionally only those of one session.
     */
    public function listArchives(int $offset = 0, ?int $count = null, ?string $sessionId = null): ArchiveList
    {
        if ($offset < 0) {
            throw new InvalidArgumentException("offset must be 0 or more, got $offset");
        }
        $query = [];
        if ($offset !== 0) {
            $query['offset'] = $offset;
        }
        if ($count !== null) {
            $query['count'] = Validators::intInRange($count, 1, 1000, 'count');
        }
        if ($sessionId !== null) {
            $query['sessionId'] = Validators::sessionBelongsTo($sessionId, $this->credentials->id);
        }
        return new ArchiveList($this->client->request('GET', 'archive', query: $query)->json(), $this);
    }

    /**
     * Changes the layout of a composed archive while it records.
     *
     * @param Layout|array<string, mixed> $layout
     */
    public function setArchiveLayout(string $archiveId, Layout|array $layout): void
    {
        $archiveId = Validators::archiveId($archiveId);
        $this->client->request('PUT', 'archive/' . rawurlencode($archiveId) . '/layout', json: Validators::layout($layout)->toArray());
    }

    /** Adds a stream to an archive started with StreamMode::MANUAL, or changes its audio/video. */
    public function addStreamToArchive(string $archiveId, string $streamId, bool $hasAudio = true, bool $hasVideo = true): bool
    {
        $archiveId = Validators::archiveId($archiveId);
        $streamId = Validators::id($streamId, 'stream ID');
        if (!$hasAudio && !$hasVideo) {
            throw new InvalidArgumentException('hasAudio and hasVideo cannot both be false');
        }
        $this->client->request('PATCH', 'archive/' . rawurlencode($archiveId) . '/streams', json: [
            'addStream' => $streamId,
            'hasAudio' => $hasAudio,
            'hasVideo' => $hasVideo,
        ]);
        return true;
    }

    /** Removes a stream from an archive started with StreamMode::MANUAL. */
    public function removeStreamFromArchive(string $archiveId, string $streamId): bool
    {
        $archiveId = Validators::archiveId($archiveId);
        $streamId = Validators::id($streamId, 'stream ID');
        $this->client->request('PATCH', 'archive/' . rawurlencode($archiveId) . '/streams', json: ['removeStream' => $streamId]);
        return true;
    }

    // ---- Archive storage ----------------------------------------------------------------------

    /**
     * Sets where the project's archives are uploaded once available (OpenTok's archive storage): an
     * S3 bucket on Amazon S3 or, with `endpoint` (e.g. `https://minio.example.com:9000`), on any
     * S3-compatible service. `$fallback`: `opentok` (default) keeps an archive whose upload failed
     * available on the server; `none` fails it and keeps no copy. Returns the settings as the server
     * shows them, without the secret key.
     *
     * @param array{bucket: string, accessKey: string, secretKey: string, endpoint?: ?string, sse?: ?string} $config
     * @return array<string, mixed>
     */
    public function setArchiveStorage(array $config, string $fallback = 'opentok'): array
    {
        self::refuseUnknown($config, ['bucket', 'accessKey', 'secretKey', 'endpoint', 'sse'], 'archive storage config key');
        foreach (['bucket', 'accessKey', 'secretKey'] as $key) {
            if (!isset($config[$key]) || !is_string($config[$key]) || $config[$key] === '') {
                throw new InvalidArgumentException("archive storage config needs a non-empty $key");
            }
        }
        if ($fallback !== 'none' && $fallback !== 'opentok') {
            throw new InvalidArgumentException("fallback must be 'none' or 'opentok', got '$fallback'");
        }
        return $this->client->request('PUT', 'archive/storage', json: ['type' => 's3', 'config' => $config, 'fallback' => $fallback])->json();
    }

    /**
     * The project's archive storage as the server shows it (no secret key), or null when archives
     * stay on the server.
     *
     * @return array<string, mixed>|null
     */
    public function getArchiveStorage(): ?array
    {
        try {
            return $this->client->request('GET', 'archive/storage')->json();
        } catch (NotFoundException) {
            return null;
        }
    }

    /** Removes the project's archive storage: archives stay on the server again. */
    public function deleteArchiveStorage(): bool
    {
        $this->client->request('DELETE', 'archive/storage');
        return true;
    }

    // ---- Live streaming broadcasts -------------------------------------------------------------

    /**
     * Starts a live streaming broadcast of a session: `outputs` has `hls` ({dvr?, lowLatency?}) and/or
     * `rtmp` (up to five [{id?, serverUrl, streamName}]); also maxDuration, maxBitrate, resolution,
     * layout, streamMode, multiBroadcastTag, hasAudio, hasVideo.
     *
     * @param array<string, mixed> $options
     */
    public function startBroadcast(string $sessionId, array $options): Broadcast
    {
        $sessionId = Validators::id($sessionId, 'session ID');
        if (!isset($options['outputs']) || !is_array($options['outputs'])) {
            throw new InvalidArgumentException('outputs (hls and/or rtmp) is required');
        }
        if (isset($options['layout'])) {
            $options['layout'] = Validators::layout($options['layout'])->toArray();
        }
        // HLS with default settings: `[]` in PHP, which must go out as the JSON object {}.
        if (($options['outputs']['hls'] ?? null) === []) {
            $options['outputs']['hls'] = new \stdClass();
        }
        return new Broadcast($this->client->request('POST', 'broadcast', json: ['sessionId' => $sessionId] + $options)->json());
    }

    public function stopBroadcast(string $broadcastId): Broadcast
    {
        return new Broadcast($this->client->request('POST', 'broadcast/' . rawurlencode(self::broadcastId($broadcastId)) . '/stop')->json());
    }

    public function getBroadcast(string $broadcastId): Broadcast
    {
        return new Broadcast($this->client->request('GET', 'broadcast/' . rawurlencode(self::broadcastId($broadcastId)))->json());
    }

    /**
     * Lists broadcasts, newest first.
     *
     * @return array{count: int, items: list<Broadcast>}
     */
    public function listBroadcasts(int $offset = 0, ?int $count = null, ?string $sessionId = null): array
    {
        if ($offset < 0) {
            throw new InvalidArgumentException("offset must be 0 or more, got $offset");
        }
        $query = ['offset' => $offset];
        if ($count !== null) {
            $query['count'] = Validators::intInRange($count, 1, 1000, 'count');
        }
        if ($sessionId !== null) {
            $query['sessionId'] = Validators::id($sessionId, 'session ID');
        }
        $data = $this->client->request('GET', 'broadcast', query: $query)->json();
        $items = is_array($data['items'] ?? null) ? $data['items'] : [];
        return ['count' => (int) ($data['count'] ?? 0), 'items' => array_map(static fn ($item) => new Broadcast(is_array($item) ? $item : []), array_values($items))];
    }

    /** @param Layout|array<string, mixed> $layout */
    public function updateBroadcastLayout(string $broadcastId, Layout|array $layout): Broadcast
    {
        return new Broadcast($this->client->request('PUT', 'broadcast/' . rawurlencode(self::broadcastId($broadcastId)) . '/layout', json: Validators::layout($layout)->toArray())->json());
    }

    /** Adds a stream to a broadcast started with StreamMode::MANUAL, or changes its audio/video. */
    public function addStreamToBroadcast(string $broadcastId, string $streamId, bool $hasAudio = true, bool $hasVideo = true): bool
    {
        $this->client->request('PATCH', 'broadcast/' . rawurlencode(self::broadcastId($broadcastId)) . '/streams', json: [
            'addStream' => Validators::id($streamId, 'stream ID'),
            'hasAudio' => $hasAudio,
            'hasVideo' => $hasVideo,
        ]);
        return true;
    }

    /** Removes a stream from a broadcast started with StreamMode::MANUAL. */
    public function removeStreamFromBroadcast(string $broadcastId, string $streamId): bool
    {
        // OpenTok's PHP SDK PATCHes /archive/{id}/streams here (a bug); we use the broadcast path.
        $this->client->request('PATCH', 'broadcast/' . rawurlencode(self::broadcastId($broadcastId)) . '/streams', json: ['removeStream' => Validators::id($streamId, 'stream ID')]);
        return true;
    }

    /** Broadcast IDs are UUIDs, as archive IDs. */
    private static function broadcastId(string $broadcastId): string
    {
        try {
            return Validators::archiveId($broadcastId);
        } catch (InvalidArgumentException) {
            throw new InvalidArgumentException('The broadcast ID must be a UUID, got ' . json_encode($broadcastId));
        }
    }

    // ---- Signals and moderation ---------------------------------------------------------------

    /**
     * Sends a signal to every client in the session, or to one connection.
     * `$payload`: ['data' => string ≤ 8 kB, 'type' => optional string ≤ 128 of A-Z a-z 0-9 - _ ~].
     *
     * @param array{type?: ?string, data: string} $payload
     */
    public function signal(string $sessionId, array $payload, ?string $connectionId = null): void
    {
        $sessionId = Validators::sessionBelongsTo($sessionId, $this->credentials->id);
        $signal = Validators::signal($payload);
        $body = $signal['type'] !== null ? ['type' => $signal['type'], 'data' => $signal['data']] : ['data' => $signal['data']];
        $path = 'session/' . rawurlencode($sessionId);
        if ($connectionId !== null && $connectionId !== '') {
            $path .= '/connection/' . rawurlencode(Validators::id($connectionId, 'connection ID'));
        }
        $this->client->request('POST', $path . '/signal', json: $body);
    }

    /** Disconnects a client from the session. */
    public function forceDisconnect(string $sessionId, string $connectionId): bool
    {
        $sessionId = Validators::sessionBelongsTo($sessionId, $this->credentials->id);
        $connectionId = Validators::id($connectionId, 'connection ID');
        $this->client->request('DELETE', 'session/' . rawurlencode($sessionId) . '/connection/' . rawurlencode($connectionId));
        return true;
    }

    /**
     * Dials a SIP URI: the phone joins the routed session as a connection (the token's data) with an
     * audio stream. Options as OpenTok's: from, headers, auth {username, password}, secure, video,
     * observeForceMute, streams. POSTs to /call, the path OpenTok's PHP SDK uses (the server also
     * answers /dial).
     *
     * @param array{from?: string, headers?: array<string, string>, auth?: array{username: string, password: string}, secure?: bool, video?: bool, observeForceMute?: bool, streams?: list<string>} $options
     */
    public function dial(string $sessionId, string $token, string $sipUri, array $options = []): SipCall
    {
        $sessionId = Validators::sessionBelongsTo($sessionId, $this->credentials->id);
        if ($token === '') {
            throw new InvalidArgumentException('dial needs a token for the SIP participant');
        }
        if (preg_match('/^sips?:/i', $sipUri) !== 1) {
            throw new InvalidArgumentException('dial needs a sip: URI, got ' . Validators::show($sipUri));
        }
        $allowed = ['from', 'headers', 'auth', 'secure', 'video', 'observeForceMute', 'streams'];
        foreach (array_keys($options) as $key) {
            if (!in_array($key, $allowed, true)) {
                throw new InvalidArgumentException('Unknown dial option ' . Validators::show($key));
            }
        }
        $body = ['sessionId' => $sessionId, 'token' => $token, 'sip' => ['uri' => $sipUri] + $options];
        return new SipCall($this->client->request('POST', 'call', $body)->json());
    }

    /**
     * Starts an Experience Composer render: the server's headless browser opens `$url` at
     * `$resolution` and publishes the page (video and audio) into the routed session as a stream
     * named `$properties['name']`, joining with `$token` (role publisher or moderator). Answers at
     * once with status "starting"; getRender() (or the `$statusCallbackUrl`) tells when it started.
     *
     * @param array{name?: string} $properties
     */
    public function startRender(string $sessionId, string $token, string $url, int $maxDuration = 1800, string $resolution = '1280x720', ?string $statusCallbackUrl = null, array $properties = []): Render
    {
        $sessionId = Validators::sessionBelongsTo($sessionId, $this->credentials->id);
        if ($token === '') {
            throw new InvalidArgumentException('startRender needs a token for the render to join with');
        }
        if (preg_match('#^https?://#i', $url) !== 1) {
            throw new InvalidArgumentException('The render URL must be http(s), got ' . Validators::show($url));
        }
        self::refuseUnknown($properties, ['name'], 'render property');
        $body = [
            'sessionId' => $sessionId,
            'token' => $token,
            'url' => $url,
            'maxDuration' => Validators::intInRange($maxDuration, 60, 36000, 'maxDuration'),
            'resolution' => Validators::archiveResolution($resolution),
        ];
        if ($statusCallbackUrl !== null) {
            $body['statusCallbackUrl'] = $statusCallbackUrl;
        }
        if (isset($properties['name'])) {
            $body['properties'] = ['name' => (string) $properties['name']];
        }
        return new Render($this->client->request('POST', 'render', $body)->json(), $this);
    }

    /** Reads a render. POSTs to /render/{id}, the path OpenTok's PHP SDK uses (the server also answers GET). */
    public function getRender(string $renderId): Render
    {
        $renderId = Validators::id($renderId, 'render ID');
        return new Render($this->client->request('POST', 'render/' . rawurlencode($renderId))->json(), $this);
    }

    /** Stops a render: its stream has left the session when this returns the render (status stopped). */
    public function stopRender(string $renderId): Render
    {
        $renderId = Validators::id($renderId, 'render ID');
        return new Render($this->client->request('DELETE', 'render/' . rawurlencode($renderId))->json(), $this);
    }

    /**
     * Lists renders, newest first: `$count` (1 to 1000) after skipping `$offset`. `count` in the
     * answer is the number of all renders of the project.
     *
     * @return array{count: int, items: list<Render>}
     */
    public function listRenders(int $offset = 0, int $count = 50): array
    {
        if ($offset < 0) {
            throw new InvalidArgumentException("offset must be 0 or more, got $offset");
        }
        $query = ['offset' => $offset, 'count' => Validators::intInRange($count, 1, 1000, 'count')];
        $data = $this->client->request('GET', 'render', query: $query)->json();
        if (!isset($data['items']) || !is_array($data['items']) || !is_int($data['count'] ?? null)) {
            throw new UnexpectedValueException('A render list from the server needs "count" and "items"');
        }
        return ['count' => $data['count'], 'items' => array_map(fn ($item) => new Render(is_array($item) ? $item : [], $this), array_values($data['items']))];
    }

    /**
     * Starts an Audio Connector (OpenTok's connectAudio): the server opens a WebSocket to
     * $websocketOptions['uri'] (ws:// or wss://), sends a JSON message (content-type
     * audio/l16;rate=… and the headers), then the session's audio (or only `streams`, mixed) as 20 ms
     * binary frames of 16-bit little-endian PCM at `audioRate` (8000, 16000 or 24000; default
     * 16000); with `bidirectional`, audio sent back on the socket plays into the session as a
     * stream. The connector is a connection of the token's data. Returns the server's JSON:
     * ['id' => …, 'connectionId' => …]; stop it with stopAudioConnection($id) or forceDisconnect.
     *
     * @param array{uri: string, streams?: list<string>, headers?: array<string, string>, audioRate?: int, bidirectional?: bool} $websocketOptions
     * @return array{id: string, connectionId: string}
     */
    public function connectAudio(string $sessionId, string $token, array $websocketOptions): array
    {
        $sessionId = Validators::sessionBelongsTo($sessionId, $this->credentials->id);
        if ($token === '') {
            throw new InvalidArgumentException('connectAudio needs a token for the connector');
        }
        $uri = $websocketOptions['uri'] ?? null;
        if (!is_string($uri) || preg_match('#^wss?://#i', $uri) !== 1) {
            throw new InvalidArgumentException('connectAudio needs websocket option "uri", a ws:// or wss:// URI; got ' . Validators::show($uri));
        }
        $allowed = ['uri', 'streams', 'headers', 'audioRate', 'bidirectional'];
        foreach (array_keys($websocketOptions) as $key) {
            if (!in_array($key, $allowed, true)) {
                throw new InvalidArgumentException('Unknown websocket option ' . Validators::show($key));
            }
        }
        if (isset($websocketOptions['audioRate']) && !in_array($websocketOptions['audioRate'], [8000, 16000, 24000], true)) {
            throw new InvalidArgumentException('audioRate is 8000, 16000 or 24000; got ' . Validators::show($websocketOptions['audioRate']));
        }
        $json = $this->client->request('POST', 'connect', ['sessionId' => $sessionId, 'token' => $token, 'websocket' => $websocketOptions])->json();
        foreach (['id', 'connectionId'] as $field) {
            if (!isset($json[$field]) || !is_string($json[$field])) {
                throw new UnexpectedValueException('An Audio Connector from the server has no "' . $field . '"');
            }
        }
        /** @var array{id: string, connectionId: string} $json */
        return $json;
    }

    /** Stops an Audio Connector: its WebSocket is closed and its connection leaves the session. */
    public function stopAudioConnection(string $id): bool
    {
        $id = Validators::id($id, 'Audio Connector ID');
        $this->client->request('POST', 'connect/' . rawurlencode($id) . '/stop');
        return true;
    }

    /** Plays DTMF digits (0-9, *, #, p for a 500 ms pause) on the session's SIP calls, or on one connection's. */
    public function playDTMF(string $sessionId, string $digits, ?string $connectionId = null): bool
    {
        $sessionId = Validators::sessionBelongsTo($sessionId, $this->credentials->id);
        if (preg_match('/^[0-9*#p]{1,64}$/', $digits) !== 1) {
            throw new InvalidArgumentException('DTMF digits are 0-9, *, # and p, 1 to 64 of them; got ' . Validators::show($digits));
        }
        $path = 'session/' . rawurlencode($sessionId)
            . ($connectionId === null ? '' : '/connection/' . rawurlencode(Validators::id($connectionId, 'connection ID')))
            . '/play-dtmf';
        $this->client->request('POST', $path, ['digits' => $digits]);
        return true;
    }

    /**
     * Starts live captions for a routed session (OpenTok's startCaptions): `$token` is a moderator
     * token of the session; streams whose publishers publish captions are captioned. Returns
     * ['captionsId' => …]. A ConflictException when captions already run for the session.
     */
    public function startCaptions(
        string $sessionId,
        string $token,
        ?string $languageCode = 'en-US',
        ?int $maxDuration = 14400,
        ?bool $partialCaptions = true,
        ?string $statusCallbackUrl = null
    ): array {
        $sessionId = Validators::sessionBelongsTo($sessionId, $this->credentials->id);
        if ($token === '') {
            throw new InvalidArgumentException('startCaptions needs a moderator token of the session');
        }
        if ($maxDuration !== null && ($maxDuration < 300 || $maxDuration > 14400)) {
            throw new InvalidArgumentException('maxDuration is 300 to 14400 seconds, got ' . Validators::show($maxDuration));
        }
        $body = ['sessionId' => $sessionId, 'token' => $token];
        if ($languageCode !== null) {
            $body['languageCode'] = $languageCode;
        }
        if ($maxDuration !== null) {
            $body['maxDuration'] = $maxDuration;
        }
        if ($partialCaptions !== null) {
            $body['partialCaptions'] = $partialCaptions;
        }
        if ($statusCallbackUrl !== null) {
            $body['statusCallbackUrl'] = $statusCallbackUrl;
        }
        $data = $this->client->request('POST', 'captions', $body)->json();
        return ['captionsId' => (string) $data['captionsId']];
    }

    /** Stops live captions. */
    public function stopCaptions(string $captionsId): bool
    {
        $this->client->request('POST', 'captions/' . rawurlencode(Validators::id($captionsId, 'captions ID')) . '/stop');
        return true;
    }

    /**
     * The status of live captions: captionId, sessionId, status (started, stopped, failed),
     * createdAt, updatedAt, duration (s), languageCode, provider, reason (why they ended).
     */
    public function getCaptions(string $captionsId): array
    {
        return $this->client->request('GET', 'captions/' . rawurlencode(Validators::id($captionsId, 'captions ID')))->json();
    }

    /** Mutes the audio of one stream (its publisher may unmute it). */
    public function forceMuteStream(string $sessionId, string $streamId): bool
    {
        $sessionId = Validators::sessionBelongsTo($sessionId, $this->credentials->id);
        $streamId = Validators::id($streamId, 'stream ID');
        $this->client->request('POST', 'session/' . rawurlencode($sessionId) . '/stream/' . rawurlencode($streamId) . '/mute');
        return true;
    }

    /**
     * Mutes the audio of every stream but the excluded ones, and of streams published later until
     * disableForceMute(). Option: `excludedStreams` (or `excludedStreamIds`): stream IDs to leave alone.
     *
     * @param array{excludedStreams?: list<string>, excludedStreamIds?: list<string>} $options
     */
    public function forceMuteAll(string $sessionId, array $options = []): bool
    {
        $this->muteAll($sessionId, true, $options);
        return true;
    }

    /**
     * Stops muting streams published from now on (after forceMuteAll()).
     *
     * @param array{excludedStreams?: list<string>, excludedStreamIds?: list<string>} $options
     */
    public function disableForceMute(string $sessionId, array $options = []): bool
    {
        $this->muteAll($sessionId, false, $options);
        return true;
    }

    /** @param array<string, mixed> $options */
    private function muteAll(string $sessionId, bool $active, array $options): void
    {
        $sessionId = Validators::sessionBelongsTo($sessionId, $this->credentials->id);
        self::refuseUnknown($options, ['excludedStreams', 'excludedStreamIds'], 'mute option');
        if (isset($options['excludedStreams'], $options['excludedStreamIds'])) {
            throw new InvalidArgumentException('Give excludedStreams or excludedStreamIds, not both');
        }
        $excluded = $options['excludedStreams'] ?? $options['excludedStreamIds'] ?? null;
        $body = ['active' => $active];
        if ($excluded !== null || $active) {
            $excluded ??= [];
            if (!is_array($excluded) || !array_is_list($excluded)) {
                throw new InvalidArgumentException('The excluded streams must be a list of stream IDs');
            }
            // The REST API's spelling (opentok-node, @vonage/video); the server also reads excludedStreams.
            $body['excludedStreamIds'] = array_map(static fn ($id) => Validators::id($id, 'excluded stream ID'), $excluded);
        }
        $this->client->request('POST', 'session/' . rawurlencode($sessionId) . '/mute', json: $body);
    }

    // ---- Connections and streams --------------------------------------------------------------

    public function listConnections(string $sessionId): ConnectionList
    {
        $sessionId = Validators::sessionBelongsTo($sessionId, $this->credentials->id);
        // The trailing slash is the OpenTok PHP SDK's path; the server takes both.
        return new ConnectionList($this->client->request('GET', 'session/' . rawurlencode($sessionId) . '/connection/')->json());
    }

    public function getStream(string $sessionId, string $streamId): Stream
    {
        $sessionId = Validators::sessionBelongsTo($sessionId, $this->credentials->id);
        $streamId = Validators::id($streamId, 'stream ID');
        return new Stream($this->client->request('GET', 'session/' . rawurlencode($sessionId) . '/stream/' . rawurlencode($streamId))->json());
    }

    public function listStreams(string $sessionId): StreamList
    {
        $sessionId = Validators::sessionBelongsTo($sessionId, $this->credentials->id);
        return new StreamList($this->client->request('GET', 'session/' . rawurlencode($sessionId) . '/stream/')->json());
    }

    /**
     * Sets the layout classes of several streams at once:
     * [['id' => $streamId, 'layoutClassList' => ['focus']], …]; an empty list clears a stream's classes.
     *
     * @param list<array{id: string, layoutClassList: list<string>}> $classListArray
     */
    public function setStreamClassLists(string $sessionId, array $classListArray): void
    {
        $sessionId = Validators::sessionBelongsTo($sessionId, $this->credentials->id);
        if (!array_is_list($classListArray)) {
            throw new InvalidArgumentException('The class lists must be a list of ["id" => …, "layoutClassList" => […]]');
        }
        $items = [];
        foreach ($classListArray as $item) {
            if (!is_array($item)) {
                throw new InvalidArgumentException('Each class list must be an array ["id" => …, "layoutClassList" => […]]');
            }
            self::refuseUnknown($item, ['id', 'layoutClassList'], 'class list key');
            if (!array_key_exists('layoutClassList', $item)) {
                throw new InvalidArgumentException('Each class list needs a "layoutClassList"');
            }
            $items[] = [
                'id' => Validators::id($item['id'] ?? null, 'stream ID'),
                'layoutClassList' => Validators::layoutClassList($item['layoutClassList']),
            ];
        }
        $this->client->request('PUT', 'session/' . rawurlencode($sessionId) . '/stream', json: ['items' => $items]);
    }

    /**
     * Sets one stream's layout classes (the OpenTok PHP SDK's updateStream).
     *
     * @param array{layoutClassList: list<string>} $properties
     */
    public function updateStream(string $sessionId, string $streamId, array $properties): void
    {
        $sessionId = Validators::sessionBelongsTo($sessionId, $this->credentials->id);
        $streamId = Validators::id($streamId, 'stream ID');
        self::refuseUnknown($properties, ['layoutClassList'], 'stream property');
        $classes = Validators::layoutClassList($properties['layoutClassList'] ?? []);
        $this->client->request('PUT', 'session/' . rawurlencode($sessionId) . '/stream/' . rawurlencode($streamId), json: ['layoutClassList' => $classes]);
    }

    /**
     * @param array<mixed> $given
     * @param list<string> $known
     */
    private static function refuseUnknown(array $given, array $known, string $what): void
    {
        $unknown = array_diff(array_map('strval', array_keys($given)), $known);
        if ($unknown !== []) {
            throw new InvalidArgumentException("Unknown $what: " . implode(', ', $unknown) . ' (known: ' . implode(', ', $known) . ')');
        }
    }
}
