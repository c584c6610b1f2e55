<?php

// One real client of the Colloquy server, driven from PHP through the launcher: it joined over the
// /v2/signaling WebSocket with a token the SDK made, and publishes or subscribes with a werift peer
// through the SFU (real VP8 + Opus). The tests act with the SDK and check what this client saw.

declare(strict_types=1);

namespace Colloquy\Tests\Support;

final class LiveClient
{
    public readonly string $id;
    public readonly string $connectionId;
    /** The token's connection data, as the server gives it to the client. */
    public readonly string $data;
    /** @var list<string> OpenTok.js permission strings (publish, subscribe, forcedisconnect, …). */
    public readonly array $permissions;
    /** @var array<string, mixed> the whole connect result */
    public readonly array $connectResult;

    /** @param array<string, mixed> $joined the launcher's answer to `join` */
    public function __construct(private readonly TestServer $server, array $joined)
    {
        $this->id = $joined['clientId'];
        $this->connectionId = $joined['connection']['connectionId'];
        $this->data = $joined['connection']['data'];
        $this->permissions = $joined['permissions'];
        $this->connectResult = $joined;
    }

    /**
     * Publishes real media (name, videoType, audio, video) and waits for the stream's
     * streamCreated: ['streamId' => …, 'muteForced' => bool], or ['refused' => [code, name, message]].
     *
     * @param array{name?: string, videoType?: string, audio?: bool, video?: bool} $options
     * @return array<string, mixed>
     */
    public function tryPublish(array $options = []): array
    {
        return $this->server->command(['cmd' => 'publish', 'clientId' => $this->id] + $options, 30.0);
    }

    /**
     * Publishes and returns the stream ID; fails when the server refuses.
     *
     * @param array{name?: string, videoType?: string, audio?: bool, video?: bool} $options
     */
    public function publish(array $options = []): string
    {
        $answer = $this->tryPublish($options);
        if (isset($answer['refused'])) {
            throw new \RuntimeException('publish refused: ' . json_encode($answer['refused']));
        }
        return $answer['streamId'];
    }

    /** Subscribes through the SFU with a werift peer; returns the subscriber ID once connected. */
    public function subscribe(string $streamId): string
    {
        $answer = $this->server->command(['cmd' => 'subscribe', 'clientId' => $this->id, 'streamId' => $streamId], 30.0);
        if (isset($answer['refused'])) {
            throw new \RuntimeException('subscribe refused: ' . json_encode($answer['refused']));
        }
        return $answer['subscriberId'];
    }

    /** @return array{audio: int, video: int} RTP packets this subscription received so far */
    public function packets(string $subscriberId): array
    {
        $answer = $this->server->command(['cmd' => 'packets', 'clientId' => $this->id, 'subscriberId' => $subscriberId]);
        return ['audio' => $answer['audio'], 'video' => $answer['video']];
    }

    /**
     * Sends a protocol request and returns the server's reply ({type: response, result} or
     * {type: error, code, name, message}).
     *
     * @param array<string, mixed> $message
     * @return array<string, mixed>
     */
    public function request(array $message): array
    {
        return $this->server->command(['cmd' => 'request', 'clientId' => $this->id, 'message' => $message])['reply'];
    }

    /**
     * The first message of `$type` the client received whose fields contain `$match` (nested
     * arrays compared by their listed keys) and whose seq is above `$since`; waits for it up to
     * `$timeoutMs`, then fails with the last messages received.
     *
     * @param array<string, mixed> $match
     * @return array<string, mixed>
     */
    public function waitFor(string $type, array $match = [], int $since = 0, int $timeoutMs = 10000): array
    {
        $command = ['cmd' => 'waitFor', 'clientId' => $this->id, 'type' => $type, 'since' => $since, 'timeoutMs' => $timeoutMs];
        if ($match !== []) {
            $command['match'] = $match;
        }
        return $this->server->command($command, $timeoutMs / 1000 + 5.0)['event'];
    }

    /**
     * Every message the server sent this client so far (responses and heartbeats left out).
     *
     * @return list<array<string, mixed>>
     */
    public function events(?string $type = null): array
    {
        $events = $this->server->command(['cmd' => 'events', 'clientId' => $this->id])['events'];
        return $type === null ? $events : array_values(array_filter($events, static fn (array $e): bool => $e['type'] === $type));
    }

    /** @return array{code: int, reason: string}|null how the server closed the socket, if it did */
    public function closed(): ?array
    {
        return $this->server->command(['cmd' => 'events', 'clientId' => $this->id])['closed'];
    }

    /** The highest seq received so far (for waitFor's `$since`). */
    public function lastSeq(): int
    {
        $seqs = array_filter(array_column($this->events(), 'seq'), 'is_int');
        return $seqs === [] ? 0 : max($seqs);
    }

    /** Leaves the session (disconnect request), closing the socket and its peers. */
    public function leave(): void
    {
        $this->server->command(['cmd' => 'leave', 'clientId' => $this->id]);
    }
}
