<?php

// An archive (recording) as the REST API describes it. Read its fields as properties, as with the
// OpenTok PHP SDK ($archive->id, $archive->status, $archive->url …); stop() and delete() act on it.

declare(strict_types=1);

namespace Colloquy;

use Colloquy\Exception\UnexpectedValueException;
use JsonSerializable;

/**
 * @property-read string $id
 * @property-read string $sessionId
 * @property-read ?string $name
 * @property-read string $status started, paused (recording, nobody publishing), stopped (being produced),
 *     available (url downloadable), failed (see reason), deleted or expired; OpenTok's "uploaded" (to a
 *     cloud bucket) never happens on Colloquy
 * @property-read ?string $reason why it stopped or failed ("user initiated", "session ended", …)
 * @property-read int $createdAt epoch milliseconds
 * @property-read ?int $updatedAt
 * @property-read int $duration seconds (0 while recording)
 * @property-read int $size bytes
 * @property-read ?int $partnerId the API key as an integer (projects; null for applications)
 * @property-read int|string|null $projectId the API key as an integer, or the application ID
 * @property-read ?string $applicationId the application ID (applications only)
 * @property-read bool $hasAudio
 * @property-read bool $hasVideo
 * @property-read string $outputMode composed or individual
 * @property-read string $streamMode auto or manual
 * @property-read ?string $resolution
 * @property-read ?int $maxBitrate
 * @property-read ?int $quantizationParameter
 * @property-read ?string $multiArchiveTag
 * @property-read ?string $url signed download URL while available (valid for minutes: get the archive
 *     again for a fresh one), null otherwise
 * @property-read ?string $password
 * @property-read ?string $sha256sum
 * @property-read ?array $streams while recording: [{streamId, hasAudio, hasVideo}]
 * @property-read ?bool $hasTranscription
 * @property-read ?array $transcription
 */
final class Archive implements JsonSerializable
{
    private const FIELDS = [
        'id', 'sessionId', 'name', 'status', 'reason', 'createdAt', 'updatedAt', 'duration', 'size',
        'partnerId', 'projectId', 'applicationId', 'hasAudio', 'hasVideo', 'outputMode', 'streamMode', 'resolution',
        'maxBitrate', 'quantizationParameter', 'multiArchiveTag', 'url', 'password', 'sha256sum',
        'streams', 'hasTranscription', 'transcription',
    ];

    /** @var array<string, mixed> */
    private array $data;
    private bool $deleted = false;

    /**
     * @internal Archives come from OpenTok::startArchive(), getArchive(), listArchives().
     * @param array<string, mixed> $data
     */
    public function __construct(array $data, private readonly ?OpenTok $opentok = null)
    {
        $this->data = self::check($data);
    }

    /** @param array<string, mixed> $data */
    private static function check(array $data): array
    {
        foreach (['id', 'sessionId', 'status'] as $field) {
            if (!isset($data[$field]) || !is_string($data[$field])) {
                throw new UnexpectedValueException("An archive from the server has no \"$field\" string");
            }
        }
        return $data;
    }

    public function __get(string $name): mixed
    {
        return in_array($name, self::FIELDS, true) ? ($this->data[$name] ?? null) : null;
    }

    public function __isset(string $name): bool
    {
        return in_array($name, self::FIELDS, true) && isset($this->data[$name]);
    }

    /** Stops recording; the archive's fields are then those the server answered. */
    public function stop(): self
    {
        $stopped = $this->owner()->stopArchive($this->data['id']);
        $this->data = $stopped->data;
        return $this;
    }

    /** Deletes the recording (once it is available, failed or expired; 409 while recording or produced). */
    public function delete(): bool
    {
        $this->owner()->deleteArchive($this->data['id']);
        $this->deleted = true;
        return true;
    }

    /** Adds a stream to an archive started with StreamMode::MANUAL (or changes its audio/video). */
    public function addStreamToArchive(string $streamId, bool $hasAudio = true, bool $hasVideo = true): bool
    {
        return $this->owner()->addStreamToArchive($this->data['id'], $streamId, $hasAudio, $hasVideo);
    }

    /** Removes a stream from an archive started with StreamMode::MANUAL. */
    public function removeStreamFromArchive(string $streamId): bool
    {
        return $this->owner()->removeStreamFromArchive($this->data['id'], $streamId);
    }

    /** Changes the layout of a composed archive while it records. */
    public function setLayout(Layout $layout): void
    {
        $this->owner()->setArchiveLayout($this->data['id'], $layout);
    }

    public function isDeleted(): bool
    {
        return $this->deleted;
    }

    /** @return array<string, mixed> the server's JSON, as it came */
    public function toArray(): array
    {
        return $this->data;
    }

    /** @return array<string, mixed> */
    public function jsonSerialize(): array
    {
        return $this->data;
    }

    public function toJson(): string
    {
        return json_encode($this->data, JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR);
    }

    private function owner(): OpenTok
    {
        if ($this->opentok === null) {
            throw new \LogicException('This Archive was not obtained from an OpenTok client, so it cannot act on the server');
        }
        return $this->opentok;
    }
}
