# Thin wrapper around CMake. `make run` and `make test` install missing
# dependencies first (scripts/install-deps.sh).
BUILD    ?= build
TYPE     ?= RelWithDebInfo
LISTEN   ?= 127.0.0.1:8080
DATA_DIR ?= ./blockd-data
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
# Extra ctest arguments for `make test` / `make asan`, e.g. CTEST_ARGS='-R ^unit'
CTEST_ARGS ?=
FUZZ_SECONDS ?= 20

.PHONY: all deps deps-build deps-ci deps-bench configure build run test bench asan tsan fuzz clean FORCE

all: build

deps:
	scripts/install-deps.sh

deps-build:
	scripts/install-deps.sh --build

deps-ci:
	scripts/install-deps.sh --ci

deps-bench:
	scripts/install-deps.sh --bench

# $(BUILD)/.make-config records the TYPE and CMAKE_FLAGS the tree was
# configured with; when either changes (or the cache is gone) the cache is
# dropped and cmake runs again, so a flag removed from CMAKE_FLAGS does not
# linger in CMakeCache.txt. Developers get -Werror (CMAKE_FLAGS can override
# it: CMAKE_FLAGS=-DBLOCKD_WERROR=OFF); a plain cmake build does not.
# CC=clang (environment or command line) picks the compiler of a new tree.
ifneq ($(filter environment command,$(origin CC)),)
CMAKE_CC := -DCMAKE_C_COMPILER=$(CC)
endif
CONFIG_ID := TYPE=$(TYPE) CMAKE_FLAGS=$(strip $(CMAKE_CC) $(CMAKE_FLAGS))
ifneq ($(CONFIG_ID),$(strip $(shell cat $(BUILD)/.make-config 2>/dev/null)))
$(BUILD)/.make-config: FORCE
endif
ifeq ($(wildcard $(BUILD)/CMakeCache.txt),)
$(BUILD)/.make-config: FORCE
endif

$(BUILD)/.make-config:
	rm -f $(BUILD)/CMakeCache.txt $@
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=$(TYPE) -DBLOCKD_WERROR=ON $(CMAKE_CC) $(CMAKE_FLAGS)
	printf '%s\n' '$(subst ','\'',$(CONFIG_ID))' > $@

configure: $(BUILD)/.make-config

FORCE:

build: configure
	cmake --build $(BUILD) -j $(JOBS)

run: deps-build
	@$(MAKE) --no-print-directory build
	@echo "Starting blockd on http://$(LISTEN) (data dir $(DATA_DIR)); Ctrl-C stops it."
	$(BUILD)/blockd --listen $(LISTEN) --data-dir $(DATA_DIR)

test: deps
	@$(MAKE) --no-print-directory build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# BENCH_ARGS reaches every benchmark script, e.g. BENCH_ARGS=--quick
# (bench_checkpoint.sh takes --layers N instead; it gets none of them).
BENCH_ARGS ?=
bench: deps-bench
	@$(MAKE) --no-print-directory build
	bench/run.sh $(BUILD) $(BENCH_ARGS)
	bench/bench_checkpoint.sh $(BUILD)
	bench/footprint.sh $(BUILD)
	/usr/bin/python3 bench/http_bench.py $(BUILD) $(BENCH_ARGS)

# Seconds of tests/http/test_soak.py under `make asan` (60 in `make test`).
ASAN_SOAK_SECONDS ?= 20

# Everything under AddressSanitizer + UBSan, in its own build tree. CPU only:
# nvcc's device link does not take the sanitizer flags, and the CUDA runtime
# does not run under ASan's default shadow layout.
asan: deps
	@$(MAKE) --no-print-directory build BUILD=build-asan TYPE=Debug CMAKE_FLAGS="-DBLOCKD_SANITIZE=ON -DBLOCKD_CUDA=OFF"
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 BLOCKD_SOAK_SECONDS=$(ASAN_SOAK_SECONDS) \
	  ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

# The concurrency tests under ThreadSanitizer, in their own clang build
# tree (CPU only, like asan): the unit suites that start threads, the HTTP
# stress, connection-limit, signal, drain, serving (worker queues and
# batching), autosave, watch, crash (TSAN_CRASH_KILLS kills) and soak
# (TSAN_SOAK_SECONDS) tests. halt_on_error makes the first race kill the daemon, so the test
# fails; tests/tsan.supp lists the uninstrumented third-party code whose
# synchronisation TSan cannot see (never blockd's own code).
TSAN_SOAK_SECONDS ?= 20
TSAN_CRASH_KILLS ?= 20
TSAN_TESTS ?= ^(unit\.test_(model|atomic_file)|http\.test_(stress|conn_limits|signals|drain|serving|autosave|watch|crash_consistency|soak))$$
tsan: deps-ci
	@$(MAKE) --no-print-directory build BUILD=build-tsan TYPE=RelWithDebInfo CMAKE_FLAGS="-DCMAKE_C_COMPILER=clang -DBLOCKD_CUDA=OFF -DBLOCKD_TSAN=ON"
	cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  BLOCKD_SOAK_SECONDS=$(TSAN_SOAK_SECONDS) BLOCKD_SOAK_RSS=off CRASH_KILLS=$(TSAN_CRASH_KILLS) \
	  ctest --output-on-failure -j $(JOBS) -R '$(TSAN_TESTS)' $(CTEST_ARGS)

# Every libFuzzer target (tests/fuzz) for FUZZ_SECONDS over its checked-in
# corpus, in its own clang build tree (ASan + UBSan).
fuzz: deps-ci
	@$(MAKE) --no-print-directory configure BUILD=build-fuzz TYPE=RelWithDebInfo CMAKE_FLAGS="-DCMAKE_C_COMPILER=clang -DBLOCKD_CUDA=OFF -DBLOCKD_FUZZ=ON -DBLOCKD_FUZZ_SECONDS=$(FUZZ_SECONDS)"
	cmake --build build-fuzz -j $(JOBS) --target blockd_fuzzers
	cd build-fuzz && ctest --output-on-failure -j $(JOBS) -L fuzz

clean:
	rm -rf $(BUILD) build-asan build-tsan build-fuzz
