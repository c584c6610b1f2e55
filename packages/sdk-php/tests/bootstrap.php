<?php

// PHPUnit bootstrap: the SDK's own autoloader (no Composer here), the test support classes, and a
// loud failure when a PHP extension the SDK needs is missing. The Colloquy server the tests call
// is started on first use by Support\TestServer and stopped when PHPUnit exits.

declare(strict_types=1);

foreach (['curl', 'json', 'openssl', 'SimpleXML'] as $extension) {
    if (!extension_loaded($extension)) {
        fwrite(STDERR, "sdk-php tests: the PHP extension '$extension' is missing (Debian: php-curl, php-xml)\n");
        exit(1);
    }
}

require __DIR__ . '/../autoload.php';

spl_autoload_register(static function (string $class): void {
    $prefix = 'Colloquy\\Tests\\';
    if (strncmp($class, $prefix, strlen($prefix)) === 0) {
        $file = __DIR__ . '/' . str_replace('\\', '/', substr($class, strlen($prefix))) . '.php';
        if (is_file($file)) {
            require $file;
        }
    }
});
