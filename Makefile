# Thin wrapper over CMake. `make` builds (optimised), `make test` builds and runs every test,
# then the unit tests again under ASan+UBSan, then a short fuzz smoke run.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
FUZZ_SECONDS ?= 15

.PHONY: all test bench bench-torch fuzz fuzz-smoke clean

all:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

test:
	JOBS=$(JOBS) tests/run_all.sh

# `make bench`: builds, makes a real-size random-weight SD 1.5 model once (needs the Python
# environment of tools/reference/requirements.txt; never committed), then times each
# component against the same-run OpenBLAS sgemm rate. `make bench-torch` times the same
# components in PyTorch (f32 and bf16 autocast) and prints the ratios against sdc's last run.
BENCH_MODEL ?= $(BUILD)/bench-models/sd15-random
BENCH_THREADS ?= $(JOBS)
BENCH_ARGS ?=
PYTHON ?= python3

bench: all
	@test -f $(BENCH_MODEL)/model_index.json || \
	    $(PYTHON) tools/reference/make_random_sd15.py $(BENCH_MODEL)
	$(BUILD)/bin/sdc bench $(BENCH_MODEL) --threads $(BENCH_THREADS) \
	    --json $(BUILD)/bench.json $(BENCH_ARGS)

bench-torch:
	@test -f $(BENCH_MODEL)/model_index.json || \
	    $(PYTHON) tools/reference/make_random_sd15.py $(BENCH_MODEL)
	$(PYTHON) tools/reference/bench_torch.py $(BENCH_MODEL) --threads $(BENCH_THREADS) \
	    --json $(BUILD)/bench_torch.json \
	    $(if $(wildcard $(BUILD)/bench.json),--sdc-json $(BUILD)/bench.json)

# Builds the libFuzzer targets with clang and runs each for FUZZ_SECONDS.
fuzz:
	JOBS=$(JOBS) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh

clean:
	rm -rf build build-asan build-fuzz
