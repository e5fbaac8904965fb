#!/usr/bin/env bash
# make memcheck: valgrind memcheck (USE_ZEND_ALLOC=0, so PHP's allocations are checked too) over
# the API fuzzer and the PHPUnit classes that run in one process without busy-wait timing
# (forked children are followed; subprocesses are not). Passes when no memcheck error and no
# definite leak has a frame in the extension (redis_lock, ext_php_rs). Needs REDIS_URL.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
so=${REDIS_LOCK_SO:-$here/target/release/libredis_lock.so}
logs=$(mktemp -d "${TMPDIR:-/tmp}/redis-lock-memcheck-XXXXXX")
export USE_ZEND_ALLOC=0 ZEND_DONT_UNLOAD_MODULES=1
vg=(valgrind --tool=memcheck --leak-check=full --show-leak-kinds=definite --num-callers=40
    --error-limit=no --log-file="$logs/%p.log")
# pcre.jit=0: valgrind cannot follow PCRE's JIT code and reports false errors in it.
php=(php -d pcre.jit=0 -d extension="$so")

echo "memcheck: API fuzzer (2000 calls) ..." >&2
"${vg[@]}" "${php[@]}" "$here/php-tests/support/fuzz.php" "$REDIS_URL" 5 2000 > "$logs/fuzz.json"
echo "memcheck: PHPUnit (Api, Errors, Secrets, Stubs, Lease, Synchronized, Uninitialised) ..." >&2
set +e
"${vg[@]}" "${php[@]}" /usr/bin/phpunit -c "$here/php-tests/phpunit.xml" \
    --filter '(ApiTest|ErrorsTest|SecretsTest|StubsTest|LeaseTest|SynchronizedTest|UninitialisedTest)' > "$logs/phpunit.out" 2>&1
phpunit_status=$?
set -e
tail -n 3 "$logs/phpunit.out" >&2
php "$here/scripts/memcheck-report.php" "$logs" "$phpunit_status"
status=$?
[ "$status" -eq 0 ] && rm -rf "$logs"
exit "$status"
