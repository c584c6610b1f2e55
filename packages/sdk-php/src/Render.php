<?php

// An Experience Composer render as the REST API describes it: the server's headless browser shows
// a web page and publishes it into a session as a stream. Read its fields as properties, as with
// the OpenTok PHP SDK ($render->id, $render->status, $render->streamId …); stop() ends it.

declare(strict_types=1);

namespace Colloquy;

use Colloquy\Exception\UnexpectedValueException;
use JsonSerializable;

/**
 * @property-read string $id
 * @property-read string $sessionId
 * @property-read string $applicationId the API key (or application ID) that owns it
 * @property-read string $projectId the same, under opentok-node's name
 * @property-read int $createdAt epoch milliseconds
 * @property-read int $updatedAt epoch milliseconds
 * @property-read string $url the rendered page
 * @property-read string $resolution e.g. 1280x720
 * @property-read string $status starting, started, stopped or failed
 * @property-read ?string $streamId the published stream, once started
 * @property-read ?string $reason why it stopped or failed
 */
final class Render implements JsonSerializable
{
    private const FIELDS = ['id', 'sessionId', 'applicationId', 'projectId', 'createdAt', 'updatedAt', 'url', 'resolution', 'status', 'streamId', 'reason'];

    /** @var array<string, mixed> */
    private array $data;

    /**
     * @internal Renders come from OpenTok::startRender(), getRender(), listRenders(), stopRender().
     * @param array<string, mixed> $data
     */
    public function __construct(array $data, private readonly ?OpenTok $opentok = null)
    {
        foreach (['id', 'sessionId', 'status'] as $field) {
            if (!isset($data[$field]) || !is_string($data[$field])) {
                throw new UnexpectedValueException("A render from the server has no \"$field\" string");
            }
        }
        $this->data = $data;
    }

    public function __get(string $name): mixed
    {
        return in_array($name, self::FIELDS, true) ? ($this->data[$name] ?? null) : null;
    }

    public function __isset(string $name): bool
    {
        return in_array($name, self::FIELDS, true) && isset($this->data[$name]);
    }

    /** Stops the render; its fields are then those the server answered (status stopped). */
    public function stop(): self
    {
        if ($this->opentok === null) {
            throw new UnexpectedValueException('This render was not read through an OpenTok client');
        }
        $this->data = $this->opentok->stopRender($this->data['id'])->data;
        return $this;
    }

    /** @return array<string, mixed> the server's JSON, as it came */
    public function jsonSerialize(): array
    {
        return $this->data;
    }
}
