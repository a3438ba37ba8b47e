#!/usr/bin/env bash
# Builds the fuzz targets with clang (libFuzzer + ASan + UBSan) in build-fuzz/ and runs each
# for FUZZ_SECONDS seconds on a copy of its seed corpus. Exits non-zero on the first crash.
# Usage: tests/fuzz/run.sh [target ...]     (default: every fuzz_*.c)
set -euo pipefail
cd "$(dirname "$0")/../.."
FUZZ_SECONDS=${FUZZ_SECONDS:-15}
JOBS=${JOBS:-2}
CC_FUZZ=${CC_FUZZ:-clang}

if ! command -v "$CC_FUZZ" >/dev/null 2>&1; then
    echo "fuzz: $CC_FUZZ not found; install clang and libclang-rt-dev to run the fuzz targets" >&2
    exit 1
fi
cmake -S . -B build-fuzz -DCMAKE_C_COMPILER="$CC_FUZZ" -DCMAKE_CXX_COMPILER="${CXX_FUZZ:-clang++}" \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSDC_FUZZ=ON -DSDC_TESTS=OFF >/dev/null
cmake --build build-fuzz -j "$JOBS" >/dev/null

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do targets+=("$(basename "$f" .c)"); done
fi
mkdir -p build-fuzz/work
status=0
for t in "${targets[@]}"; do
    name=${t#fuzz_}
    work=build-fuzz/work/$name
    mkdir -p "$work"
    # The committed seeds are read-only input; new inputs go to the work corpus.
    log=build-fuzz/work/$name.log
    if ! "build-fuzz/tests/fuzz/$t" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
            -artifact_prefix="build-fuzz/work/$name-" "$work" "tests/fuzz/corpus/$name" >"$log" 2>&1; then
        echo "fuzz: $t FAILED (see $log)" >&2
        tail -n 30 "$log" >&2
        status=1
        continue
    fi
    runs=$(grep -o 'Done [0-9]* runs' "$log" | tail -n 1 | awk '{print $2}')
    echo "fuzz: $t ok, ${runs:-?} runs in ${FUZZ_SECONDS}s"
done
exit $status
