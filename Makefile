# Thin wrapper over CMake. `make` builds (optimised), `make test` builds and runs every test,
# then the unit tests again under ASan+UBSan, then a short fuzz smoke run.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
FUZZ_SECONDS ?= 15

.PHONY: all test bench fuzz fuzz-smoke clean

all:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

test:
	JOBS=$(JOBS) tests/run_all.sh

bench:
	@echo "no benchmarks yet"

# Builds the libFuzzer targets with clang and runs each for FUZZ_SECONDS.
fuzz:
	JOBS=$(JOBS) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh

clean:
	rm -rf build build-asan build-fuzz
