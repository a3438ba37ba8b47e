#!/usr/bin/env bash
# `make test`: (1) the optimised build and every test, (2) the unit tests again in a build with
# AddressSanitizer + UndefinedBehaviorSanitizer, (3) a short fuzz smoke run of every fuzz
# target (when clang is installed). Ends with one summary line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
FUZZ_SMOKE_SECONDS=${FUZZ_SMOKE_SECONDS:-10}
passed=0
failed=0

# Runs ctest in $1 with the remaining arguments and adds its counts to the totals.
run_ctest() {
    local dir=$1
    shift
    local log
    log=$(mktemp)
    (cd "$dir" && ctest --output-on-failure -j "$JOBS" "$@") 2>&1 | tee "$log"
    local line total bad
    line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
    rm -f "$log"
    if [ -z "$line" ]; then
        echo "make test: ctest in $dir printed no summary" >&2
        failed=$((failed + 1))
        return
    fi
    bad=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/')
    total=$(echo "$line" | sed -E 's/.* failed out of ([0-9]+).*/\1/')
    passed=$((passed + total - bad))
    failed=$((failed + bad))
}

build() {
    local dir=$1
    shift
    if ! { cmake -S . -B "$dir" "$@" >/dev/null && cmake --build "$dir" -j "$JOBS"; }; then
        echo "make test: the build in $dir failed" >&2
        failed=$((failed + 1))
        return 1
    fi
}

echo "== 1/3: optimised build, all tests"
if build build -DCMAKE_BUILD_TYPE=Release; then
    run_ctest build
    # The kernel tests again on the lower dispatch levels, so every path is covered on any
    # machine: the AVX2 tables, and the plain C reference alone.
    for cap in avx2 scalar; do
        echo "== 1/3: kernel tests with SDC_CPU_MAX=$cap"
        SDC_CPU_MAX=$cap run_ctest build -R '^kernels_'
    done
fi

echo "== 2/3: unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if build build-asan -DCMAKE_BUILD_TYPE=Debug -DSDC_SANITIZE=ON; then
    run_ctest build-asan -L unit
fi

echo "== 3/3: fuzz smoke (${FUZZ_SMOKE_SECONDS}s per target)"
if command -v clang >/dev/null 2>&1; then
    for f in tests/fuzz/fuzz_*.c; do
        [ -e "$f" ] || continue
        t=$(basename "$f" .c)
        if FUZZ_SECONDS=$FUZZ_SMOKE_SECONDS tests/fuzz/run.sh "$t"; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1))
        fi
    done
else
    echo "fuzz smoke skipped: clang is not installed (see the README's set-up command)"
fi

echo "make test: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
