# Thin wrapper over CMake. `make` builds (optimised), `make test` builds and runs every test,
# then the unit tests again under ASan+UBSan, then a short fuzz smoke run.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
FUZZ_SECONDS ?= 15

.PHONY: all test demo bench bench-compressed bench-torch fuzz fuzz-smoke clean

all:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

test:
	JOBS=$(JOBS) tests/run_all.sh

# `make demo`: builds the sdc command (not the tests), then draws a few prompts with the demo model that ships in
# data/demo/shapes.sdc (coloured circles, squares and triangles, 64 x 64; see its README.md)
# into out/, and prints the paths of the PNGs.
DEMO_OUT ?= out
DEMO_PROMPTS := \
    "a blue square on a yellow background" \
    "a large red circle on the left, white background" \
    "a green triangle at the top, black background" \
    "a small yellow circle at the bottom, purple background" \
    "an orange square on the right, blue background" \
    "a white triangle in the centre, red background"

demo:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target sdc_cli >/dev/null
	@mkdir -p $(DEMO_OUT)
	@for p in $(DEMO_PROMPTS); do \
	    $(BUILD)/bin/sdc generate -m data/demo/shapes.sdc --quiet --seed 7 --steps 20 \
	        --guidance-scale 2 --output-dir $(DEMO_OUT) "$$p" || exit 1; \
	done

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
	    $(PYTHON) tools/reference/make_random_sd.py $(BENCH_MODEL)
	$(BUILD)/bin/sdc bench $(BENCH_MODEL) --threads $(BENCH_THREADS) \
	    --json $(BUILD)/bench.json $(BENCH_ARGS)

# `make bench-compressed`: the guided UNet step of the same model converted to an f16 bundle
# and to a 6-bit palettized one (each converted once, next to BENCH_MODEL), one after the
# other, for the cost of decoding palettes inside the kernels.
bench-compressed: all
	@test -f $(BENCH_MODEL)/model_index.json || \
	    $(PYTHON) tools/reference/make_random_sd.py $(BENCH_MODEL)
	@test -f $(BENCH_MODEL)-f16.sdc/model.json || \
	    $(BUILD)/bin/sdc convert $(BENCH_MODEL) -o $(BENCH_MODEL)-f16.sdc
	@test -f $(BENCH_MODEL)-6bit.sdc/model.json || \
	    $(BUILD)/bin/sdc convert $(BENCH_MODEL) -o $(BENCH_MODEL)-6bit.sdc --palettize 6
	for b in f16 6bit; do \
	    $(BUILD)/bin/sdc bench $(BENCH_MODEL)-$$b.sdc --component unet_step --no-sgemm \
	        --threads $(BENCH_THREADS) --json $(BUILD)/bench-$$b.json $(BENCH_ARGS) || exit 1; \
	done

bench-torch:
	@test -f $(BENCH_MODEL)/model_index.json || \
	    $(PYTHON) tools/reference/make_random_sd.py $(BENCH_MODEL)
	$(PYTHON) tools/reference/bench_torch.py $(BENCH_MODEL) --threads $(BENCH_THREADS) \
	    --json $(BUILD)/bench_torch.json \
	    $(if $(wildcard $(BUILD)/bench.json),--sdc-json $(BUILD)/bench.json)

# Builds the libFuzzer targets with clang and runs each for FUZZ_SECONDS.
fuzz:
	JOBS=$(JOBS) FUZZ_SECONDS=$(FUZZ_SECONDS) tests/fuzz/run.sh

clean:
	rm -rf build build-asan build-fuzz
