<?php

// The layout of a composed archive: one of the predefined layouts, or `custom` with a CSS
// stylesheet. Built with the OpenTok PHP SDK's factory methods (Layout::getBestFit(), …).

declare(strict_types=1);

namespace Colloquy;

use Colloquy\Exception\InvalidArgumentException;
use JsonSerializable;

final class Layout implements JsonSerializable
{
    public const LAYOUT_BESTFIT = 'bestFit';
    public const LAYOUT_CUSTOM = 'custom';
    public const LAYOUT_HORIZONTAL = 'horizontalPresentation';
    public const LAYOUT_PIP = 'pip';
    public const LAYOUT_VERTICAL = 'verticalPresentation';

    private const PREDEFINED = [self::LAYOUT_BESTFIT, self::LAYOUT_HORIZONTAL, self::LAYOUT_PIP, self::LAYOUT_VERTICAL];

    private ?string $screenshareType = null;

    private function __construct(
        private readonly string $type,
        private readonly ?string $stylesheet = null
    ) {
    }

    /** Tiles every stream (the default). */
    public static function getBestFit(): self
    {
        return new self(self::LAYOUT_BESTFIT);
    }

    /** One full-size stream with a small one over it. */
    public static function getPIP(): self
    {
        return new self(self::LAYOUT_PIP);
    }

    /** One large stream, the others in a column beside it. */
    public static function getVerticalPresentation(): self
    {
        return new self(self::LAYOUT_VERTICAL);
    }

    /** One large stream, the others in a row below it. */
    public static function getHorizontalPresentation(): self
    {
        return new self(self::LAYOUT_HORIZONTAL);
    }

    /**
     * A layout given by a CSS stylesheet whose selectors use the streams' layout classes.
     *
     * @param array{stylesheet: string} $options
     */
    public static function createCustom(array $options): self
    {
        $stylesheet = $options['stylesheet'] ?? null;
        if (!is_string($stylesheet) || trim($stylesheet) === '') {
            throw new InvalidArgumentException('A custom layout needs a non-empty "stylesheet" string');
        }
        return new self(self::LAYOUT_CUSTOM, $stylesheet);
    }

    /**
     * The layout an array describes: {type, stylesheet?, screenshareType?}, as the REST API writes it.
     *
     * @param array<string, mixed> $data
     */
    public static function fromData(array $data): self
    {
        $type = $data['type'] ?? null;
        if ($type === self::LAYOUT_CUSTOM) {
            $layout = self::createCustom(['stylesheet' => $data['stylesheet'] ?? null]);
        } elseif (is_string($type) && in_array($type, self::PREDEFINED, true)) {
            if (isset($data['stylesheet'])) {
                throw new InvalidArgumentException('Only a custom layout takes a stylesheet');
            }
            $layout = new self($type);
        } else {
            throw new InvalidArgumentException('Unknown layout type ' . var_export($type, true) . ': use one of ' . implode(', ', [...self::PREDEFINED, self::LAYOUT_CUSTOM]));
        }
        if (isset($data['screenshareType'])) {
            $layout->setScreenshareType($data['screenshareType']);
        }
        return $layout;
    }

    /**
     * The layout used while a stream is screen-shared; only on a bestFit layout.
     */
    public function setScreenshareType(mixed $screenshareType): self
    {
        if ($this->type !== self::LAYOUT_BESTFIT) {
            throw new InvalidArgumentException('A screenshare type can only be set on a bestFit layout');
        }
        if (!is_string($screenshareType) || !in_array($screenshareType, self::PREDEFINED, true)) {
            throw new InvalidArgumentException('The screenshare type must be one of ' . implode(', ', self::PREDEFINED));
        }
        $this->screenshareType = $screenshareType;
        return $this;
    }

    public function getType(): string
    {
        return $this->type;
    }

    /** @return array{type: string, stylesheet?: string, screenshareType?: string} */
    public function toArray(): array
    {
        $data = ['type' => $this->type];
        if ($this->stylesheet !== null) {
            $data['stylesheet'] = $this->stylesheet;
        }
        if ($this->screenshareType !== null) {
            $data['screenshareType'] = $this->screenshareType;
        }
        return $data;
    }

    /** @return array{type: string, stylesheet?: string, screenshareType?: string} */
    public function jsonSerialize(): array
    {
        return $this->toArray();
    }

    public function toJson(): string
    {
        return json_encode($this->toArray(), JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR);
    }
}
