# RedisLock: a distributed lock on Redis for PHP, written in Rust.
#
#   make demo     build, start a throwaway redis-server, run the flash-sale demo
#   make test     lint, cargo test, PHPUnit, the framework bridges' tests (each against throwaway redis-servers),
#                 every benchmark once, tiny (bench-smoke), and both demos (each exits non-zero if it fails)
#   make demo-frameworks  the Laravel, Symfony and ThinkPHP examples (bridge/, examples/)
#   make torture  the fault-injection suite (16 workers, 60 s of chaos)
#   make memcheck valgrind memcheck; make soak: 1M cycles, memory must stay flat
#   make bench    benchmarks against phpredis, predis, Laravel, Symfony, malkusch/lock
#   make install  install the extension and its ini file into this machine's PHP

PHP        ?= php
PHP_CONFIG ?= php-config
CARGO      ?= cargo
EXT        := target/release/libredis_lock.so
# ext-php-rs's build script wants absolute paths for the PHP it builds against.
CARGO_ENV   = PHP="$$(command -v $(PHP))" PHP_CONFIG="$$(command -v $(PHP_CONFIG))"
PHP_EXT    := $(PHP) -d extension=$(CURDIR)/$(EXT)
PHP_FILES   = $(shell git ls-files '*.php' '*.phpt' 2>/dev/null || find . -name '*.php' -not -path './target/*')

.PHONY: all deps deps-bench build demo demo-frameworks test lint cargo-test php-test bridge-test torture memcheck soak bench bench-smoke install uninstall clean

all: build

deps:
	@scripts/deps.sh test

deps-bench:
	@scripts/deps.sh bench

build: deps
	$(CARGO_ENV) $(CARGO) build --release

demo: build
	scripts/with-redis.sh $(PHP_EXT) examples/flash_sale.php

# The framework examples (examples/laravel_queue.php, symfony_lock_factory.php, thinkphp_app.php)
# on a throwaway redis-server; ThinkPHP from $REDIS_LOCK_THINKPHP, else ../shared/thinkphp.
demo-frameworks: build
	REDIS_LOCK_SO=$(CURDIR)/$(EXT) scripts/with-redis.sh sh -c '$(PHP_EXT) examples/laravel_queue.php \
		&& echo && $(PHP_EXT) examples/symfony_lock_factory.php && echo && $(PHP_EXT) examples/thinkphp_app.php'

test: lint cargo-test php-test bridge-test bench-smoke demo demo-frameworks

lint: deps
	$(CARGO) fmt --check
	$(CARGO_ENV) $(CARGO) clippy --all-targets -- -D warnings
	@for f in $(PHP_FILES); do $(PHP) -l $$f >/dev/null || exit 1; done; echo "php -l: $(words $(PHP_FILES)) files clean"

# MODEL_CASES: cases of the model-based property test (src/lock/tests/model.rs);
# SEMAPHORE_MODEL_CASES: of the semaphores' (src/lock/tests/semaphore.rs);
# QUORUM_MODEL_CASES: of the quorum's (src/lock/tests/quorum_model.rs).
cargo-test: deps
	MODEL_CASES=$${MODEL_CASES:-2000} SEMAPHORE_MODEL_CASES=$${SEMAPHORE_MODEL_CASES:-500} QUORUM_MODEL_CASES=$${QUORUM_MODEL_CASES:-300} $(CARGO_ENV) $(CARGO) test

php-test: build
	scripts/with-redis.sh $(PHP_EXT) /usr/bin/phpunit -c php-tests/phpunit.xml

# The Laravel, Symfony and ThinkPHP integrations (bridge/) against the real frameworks: Debian's
# Laravel 8.83 and symfony/lock 5.4, and ThinkPHP 6.1 and 8.0 from $REDIS_LOCK_THINKPHP (.ci/run
# sets it to ../shared/thinkphp; without it the ThinkPHP tests fail as skipped, naming it).
bridge-test: build
	REDIS_LOCK_SO=$(CURDIR)/$(EXT) scripts/with-redis.sh $(PHP_EXT) /usr/bin/phpunit -c bridge/tests/phpunit.xml

# The fault-injection suite, full length (make test runs a 15 s version through PHPUnit).
torture: build
	REDIS_LOCK_SO=$(CURDIR)/$(EXT) WORKERS=$${WORKERS:-16} SECONDS=$${SECONDS:-60} $(PHP) torture/run.php

# valgrind memcheck over the fuzzer and the single-process PHPUnit classes (about 6 minutes).
memcheck: build deps-bench
	REDIS_LOCK_SO=$(CURDIR)/$(EXT) scripts/with-redis.sh scripts/memcheck.sh

# One million acquire/release cycles in one process: memory must stay flat.
soak: build
	scripts/with-redis.sh $(PHP_EXT) bench/soak.php

# Every benchmark, in one redis-server's company (each starts the other servers it needs).
BENCH_STEPS = $(PHP_EXT) bench/run.php && $(PHP_EXT) bench/tls.php && $(PHP_EXT) bench/cluster.php \
	&& $(PHP_EXT) bench/replicas.php && $(PHP_EXT) bench/contention.php && $(PHP_EXT) bench/semaphore.php \
	&& $(PHP_EXT) bench/rwlock.php && $(PHP_EXT) bench/many.php && $(PHP_EXT) bench/waiters.php \
	&& $(PHP_EXT) bench/failover.php && $(PHP_EXT) bench/quorum.php && REDIS_LOCK_SO=$(CURDIR)/$(EXT) $(PHP) bench/fpm.php \
	&& $(PHP) bench/plots.php

bench: build deps-bench
	scripts/with-redis.sh sh -c '$(BENCH_STEPS)'

# The same steps, each as short as its knobs allow and without callgrind, writing to a scratch
# folder (bench/results is left alone): shows that `make bench` runs, not how fast anything is.
bench-smoke: build deps-bench
	dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && BENCH_RESULTS=$$dir ROUNDS=1 RUNS=1 CYCLES=20 SKIP_CALLGRIND=1 \
		SECONDS=1 WORKERS=3 RECONNECTS=5 DISTINCT_KEYS=2000 CONCURRENCY=2 WARMUP=0.5 \
		scripts/with-redis.sh sh -c '$(BENCH_STEPS)' && ls $$dir

install: build
	PHP=$(PHP) PHP_CONFIG=$(PHP_CONFIG) scripts/install.sh

uninstall:
	rm -f "$$($(PHP_CONFIG) --extension-dir)/redis_lock.so"
	-phpdismod redis_lock 2>/dev/null; rm -f /etc/php/*/mods-available/redis_lock.ini

clean:
	$(CARGO) clean
