<?php

// The PHP side of tests/start-server.mjs: starts it once per PHPUnit run (proc_open, no shell),
// hands tests its URLs and credentials, and speaks its JSON-line commands (join sessions with real
// WebSocket + WebRTC clients, see LiveClient; script and read the recording stub). The RSA key pair
// of the test application is made here with openssl, and its public key given to the server.

declare(strict_types=1);

namespace Colloquy\Tests\Support;

use RuntimeException;

final class TestServer
{
    public const APPLICATION_ID = '6f1d2c3b-4a59-4e8d-9c7b-0a1b2c3d4e5f';
    private const START_TIMEOUT = 60.0;
    private const COMMAND_TIMEOUT = 20.0;

    private static ?self $instance = null;

    public readonly string $url;
    public readonly string $stubUrl;
    public readonly string $apiKey;
    public readonly string $apiSecret;
    public readonly string $applicationId;
    public readonly string $privateKeyPem;

    /** @var resource */
    private $process;
    /** @var resource */
    private $stdin;
    /** @var resource */
    private $stdout;
    private string $buffer = '';
    private int $commandSeq = 0;
    private string $keyDir;

    public static function get(): self
    {
        return self::$instance ??= new self();
    }

    private function __construct()
    {
        $this->keyDir = sys_get_temp_dir() . '/colloquy-php-' . bin2hex(random_bytes(6));
        mkdir($this->keyDir, 0700);
        [$this->privateKeyPem, $publicKeyPem] = self::rsaKeyPair();
        $publicKeyFile = $this->keyDir . '/app-public.pem';
        file_put_contents($publicKeyFile, $publicKeyPem);

        $env = getenv();
        $env['COLLOQUY_TEST_APPLICATION_ID'] = self::APPLICATION_ID;
        $env['COLLOQUY_TEST_PUBLIC_KEY_FILE'] = $publicKeyFile;
        $process = proc_open(
            ['node', __DIR__ . '/../start-server.mjs'],
            [0 => ['pipe', 'r'], 1 => ['pipe', 'w'], 2 => STDERR],
            $pipes,
            __DIR__ . '/..',
            $env
        );
        if (!is_resource($process)) {
            throw new RuntimeException('Could not start node tests/start-server.mjs');
        }
        $this->process = $process;
        [$this->stdin, $this->stdout] = [$pipes[0], $pipes[1]];
        stream_set_blocking($this->stdout, false);
        register_shutdown_function([$this, 'stop']);

        $ready = json_decode($this->readLine(self::START_TIMEOUT), true, 512, JSON_THROW_ON_ERROR);
        $this->url = $ready['url'];
        $this->stubUrl = $ready['stubUrl'];
        $this->apiKey = $ready['apiKey'];
        $this->apiSecret = $ready['apiSecret'];
        $this->applicationId = $ready['applicationId'];
    }

    /** @return array{0: string, 1: string} PKCS#8 private key PEM, SPKI public key PEM */
    public static function rsaKeyPair(): array
    {
        $key = openssl_pkey_new(['private_key_bits' => 2048, 'private_key_type' => OPENSSL_KEYTYPE_RSA]);
        if ($key === false || !openssl_pkey_export($key, $privatePem)) {
            throw new RuntimeException('openssl could not make an RSA key: ' . openssl_error_string());
        }
        $details = openssl_pkey_get_details($key);
        return [$privatePem, $details['key']];
    }

    /**
     * Joins a session over the signaling WebSocket with a token, as a browser would: a real client
     * of the launcher (ProtocolClient) that can then publish, subscribe and report what it got.
     * Fails the test when the server refuses the token; see tryJoin() for refusals.
     */
    public function join(string $sessionId, string $token): LiveClient
    {
        $answer = $this->tryJoin($sessionId, $token);
        if (isset($answer['refused'])) {
            throw new RuntimeException('The server refused the token: ' . json_encode($answer['refused']));
        }
        return new LiveClient($this, $answer);
    }

    /**
     * Tries to join: the connect result (clientId, connection, permissions, connections, streams,
     * mediaMode) or ['refused' => ['code' => …, 'name' => …, 'message' => …]].
     *
     * @return array<string, mixed>
     */
    public function tryJoin(string $sessionId, string $token): array
    {
        return $this->command(['cmd' => 'join', 'sessionId' => $sessionId, 'token' => $token]);
    }

    /** Every joined client leaves (tests clean up with it). */
    public function leaveAll(): void
    {
        $this->command(['cmd' => 'leaveAll']);
    }

    /**
     * The session record the server stored (mediaMode, archiveMode, location, archiveName,
     * archiveResolution, e2ee, …), or null when it has none.
     *
     * @return array<string, mixed>|null
     */
    public function storedSession(string $sessionId): ?array
    {
        return $this->command(['cmd' => 'getSession', 'sessionId' => $sessionId])['session'];
    }

    /**
     * Queues the stub's next answers, each ['status' => int, 'body' => array|string|null,
     * 'contentType' => string, 'delayMs' => int], and forgets earlier requests.
     *
     * @param array<string, mixed> ...$responses
     */
    public function stubRespond(array ...$responses): void
    {
        $this->command(['cmd' => 'stub.reset']);
        $this->command(['cmd' => 'stub.respond', 'responses' => $responses]);
    }

    /** @return list<array{method: string, path: string, headers: array<string, string>, body: string}> */
    public function stubRequests(): array
    {
        return $this->command(['cmd' => 'stub.requests'])['requests'];
    }

    /**
     * Sends one launcher command and returns its answer; throws when the launcher could not carry
     * it out (ok: false). `$timeout` is for commands that wait (publish, waitFor).
     *
     * @internal for LiveClient
     * @param array<string, mixed> $command
     * @return array<string, mixed>
     */
    public function command(array $command, float $timeout = self::COMMAND_TIMEOUT): array
    {
        // Numbered, so that the late answer of a command that timed out is never taken for another's.
        $command['seq'] = ++$this->commandSeq;
        fwrite($this->stdin, json_encode($command, JSON_THROW_ON_ERROR | JSON_UNESCAPED_SLASHES) . "\n");
        fflush($this->stdin);
        $deadline = microtime(true) + $timeout;
        do {
            $answer = json_decode($this->readLine(max(0.001, $deadline - microtime(true))), true, 512, JSON_THROW_ON_ERROR);
        } while (($answer['seq'] ?? null) !== $command['seq']);
        if (($answer['ok'] ?? false) !== true) {
            throw new RuntimeException('start-server.mjs refused ' . $command['cmd'] . ': ' . ($answer['message'] ?? '?'));
        }
        return $answer;
    }

    private function readLine(float $timeout): string
    {
        $deadline = microtime(true) + $timeout;
        while (($newline = strpos($this->buffer, "\n")) === false) {
            $left = $deadline - microtime(true);
            if ($left <= 0) {
                throw new RuntimeException("start-server.mjs did not answer within {$timeout}s");
            }
            $read = [$this->stdout];
            $write = $except = null;
            $ready = stream_select($read, $write, $except, (int) $left, (int) (fmod($left, 1.0) * 1e6));
            if ($ready === false) {
                throw new RuntimeException('stream_select failed on start-server.mjs output');
            }
            if ($ready === 0) {
                continue;
            }
            $chunk = fread($this->stdout, 65536);
            if ($chunk === false || ($chunk === '' && feof($this->stdout))) {
                throw new RuntimeException('start-server.mjs exited early (its stderr is above)');
            }
            $this->buffer .= $chunk;
        }
        $line = substr($this->buffer, 0, $newline);
        $this->buffer = substr($this->buffer, $newline + 1);
        return $line;
    }

    /** Closes the launcher's stdin (it then closes the server) and waits for it; SIGTERM after 10 s. */
    public function stop(): void
    {
        if (!is_resource($this->process)) {
            return;
        }
        fclose($this->stdin);
        $deadline = microtime(true) + 10;
        while (proc_get_status($this->process)['running'] && microtime(true) < $deadline) {
            usleep(20000);
        }
        if (proc_get_status($this->process)['running']) {
            proc_terminate($this->process, 15);
        }
        fclose($this->stdout);
        proc_close($this->process);
        array_map('unlink', glob($this->keyDir . '/*') ?: []);
        @rmdir($this->keyDir);
    }
}
