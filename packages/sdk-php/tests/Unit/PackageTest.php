<?php

// The package as users install it: composer.json's PSR-4 map and autoload.php agree and load every
// class in src/, the SDK needs no third-party code (only PHP and the extensions composer.json
// names), and the public API has the OpenTok PHP SDK's method names.

declare(strict_types=1);

namespace Colloquy\Tests\Unit;

use Colloquy\OpenTok;
use PHPUnit\Framework\TestCase;

final class PackageTest extends TestCase
{
    private const ROOT = __DIR__ . '/../..';

    public function testComposerJsonDescribesTheLibrary(): void
    {
        $composer = json_decode((string) file_get_contents(self::ROOT . '/composer.json'), true, 512, JSON_THROW_ON_ERROR);
        self::assertSame('library', $composer['type']);
        self::assertSame(['Colloquy\\' => 'src/'], $composer['autoload']['psr-4']);
        self::assertSame(['php' => '>=8.2', 'ext-curl' => '*', 'ext-json' => '*', 'ext-openssl' => '*'], $composer['require']);
    }

    public function testEveryClassLoadsFromItsPsr4Path(): void
    {
        $files = new \RecursiveIteratorIterator(new \RecursiveDirectoryIterator(self::ROOT . '/src', \FilesystemIterator::SKIP_DOTS));
        $count = 0;
        foreach ($files as $file) {
            $relative = substr($file->getPathname(), strlen(self::ROOT . '/src/'));
            self::assertStringEndsWith('.php', $relative);
            $class = 'Colloquy\\' . str_replace('/', '\\', substr($relative, 0, -4));
            self::assertTrue(class_exists($class) || interface_exists($class), "$class loads from src/$relative");
            self::assertSame(realpath($file->getPathname()), (new \ReflectionClass($class))->getFileName());
            $count++;
        }
        self::assertGreaterThan(20, $count);
    }

    public function testNoThirdPartyCode(): void
    {
        $files = new \RecursiveIteratorIterator(new \RecursiveDirectoryIterator(self::ROOT . '/src', \FilesystemIterator::SKIP_DOTS));
        foreach ($files as $file) {
            preg_match_all('/^use ([\w\\\\]+)/m', (string) file_get_contents($file->getPathname()), $uses);
            foreach ($uses[1] as $used) {
                self::assertTrue(
                    str_starts_with($used, 'Colloquy\\') || (class_exists($used) || interface_exists($used)) && (new \ReflectionClass($used))->isInternal(),
                    "{$file->getFilename()} uses $used, which is neither the SDK's nor PHP's"
                );
            }
        }
    }

    public function testTheOpenTokPhpSdkMethodsArePresent(): void
    {
        foreach ([
            'createSession', 'generateToken', 'startArchive', 'stopArchive', 'getArchive', 'deleteArchive', 'listArchives',
            'setArchiveLayout', 'addStreamToArchive', 'removeStreamFromArchive', 'signal', 'forceDisconnect',
            'startRender', 'getRender', 'stopRender', 'listRenders',
            'listConnections', 'getStream', 'listStreams', 'setStreamClassLists', 'updateStream', 'forceMuteStream',
            'forceMuteAll', 'disableForceMute',
        ] as $method) {
            self::assertTrue((new \ReflectionMethod(OpenTok::class, $method))->isPublic(), $method);
        }
        self::assertTrue(is_subclass_of(\Colloquy\Colloquy::class, OpenTok::class));
    }
}
