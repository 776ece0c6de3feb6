# Set-up and the two commands of the README. Each target creates or reuses .venv and installs
# what it needs. torch is installed first, as the build chosen explicitly (never left to pip):
#   make setup              CPU build (default): from a local wheel folder when pip's own
#                           configuration supplies one (find-links), else from the PyTorch CPU
#                           index ($(TORCH_CPU_INDEX))
#   make setup TORCH=cuda   CUDA build from the PyTorch CUDA index ($(TORCH_CUDA_INDEX))
# Both are checked after the install (torch.version.cuda), so a wrong build is an error.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH ?= cpu
TORCH_VERSION ?= 2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH_CUDA_INDEX ?= https://download.pytorch.org/whl/cu128
STAMP := $(VENV)/.installed-$(TORCH)

ifeq ($(filter $(TORCH),cpu cuda),)
$(error TORCH=$(TORCH): expected cpu (default) or cuda)
endif
# Exit 0 when the installed torch is the pinned version of the chosen build.
TORCH_IS = import sys, torch; sys.exit(torch.__version__.split("+")[0] != "$(TORCH_VERSION)" \
	or (torch.version.cuda is None) != ("$(1)" == "cpu"))

.PHONY: setup deps tools demo flythrough test lint clean torch-cpu torch-cuda native \
	native-build native-test native-asan native-tsan native-bench unity unity-test bench-unity

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -c '$(call TORCH_IS,$(TORCH))' 2>/dev/null || \
		$(MAKE) --no-print-directory torch-$(TORCH)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

torch-cpu:
	@if $(BIN)/python -m pip install --quiet --no-index --no-deps "torch==$(TORCH_VERSION)" \
			2>/dev/null && $(BIN)/python -m pip show torch 2>/dev/null | \
			grep -qx "Version: $(TORCH_VERSION)+cpu"; then \
		echo "torch $(TORCH_VERSION): CPU build from the local wheel folder"; \
	else \
		echo "torch $(TORCH_VERSION): CPU build from $(TORCH_CPU_INDEX)"; \
		$(BIN)/python -m pip install --quiet --retries 1 --timeout 30 \
			--index-url $(TORCH_CPU_INDEX) "torch==$(TORCH_VERSION)" || { echo "error: no CPU" \
			"build of torch $(TORCH_VERSION) (no local wheel, and $(TORCH_CPU_INDEX)" \
			"unreachable); set TORCH_CPU_INDEX"; exit 1; }; \
	fi
	$(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)"  # torch's own dependencies
	@$(BIN)/python -c '$(call TORCH_IS,cpu)' || { echo "error: the torch installed is not the" \
		"CPU build of $(TORCH_VERSION)"; exit 1; }

torch-cuda:
	@echo "torch $(TORCH_VERSION): CUDA build from $(TORCH_CUDA_INDEX)"
	$(BIN)/python -m pip install --quiet --index-url $(TORCH_CUDA_INDEX) "torch==$(TORCH_VERSION)"
	@$(BIN)/python -c '$(call TORCH_IS,cuda)' || { echo "error: the torch installed is not a" \
		"CUDA build of $(TORCH_VERSION); set TORCH_CUDA_INDEX"; exit 1; }

# The main job: the bundled model flies away from a seed frame and back (demo.mp4, report.json).
demo: $(STAMP)
	$(BIN)/latentstage demo --out out/demo

# A procedural world fly-through with ground truth (frames, depth, sky, cameras.json, mp4).
flythrough: $(STAMP)
	$(BIN)/latentstage worlds render --seed 7 --kind indoor --trajectory loop --frames 120 \
		--size 256x256 --out out/flythrough --video

# Debian packages the test command needs beyond Python: the native client library (C++17,
# gRPC C++, protobuf, GoogleTest, CMake), the C# bindings (Mono), the viewer's browser test
# (chromium, chromium-driver), nginx (the scale-out tests route by world through it, run
# unprivileged on loopback), and npm (for buf) when no npm is on the PATH. Installed with
# apt-get as root, or through sudo; only the missing ones, and the list is printed first.
APT_PACKAGES := cmake g++ make pkg-config libgrpc++-dev libprotobuf-dev protobuf-compiler \
	protobuf-compiler-grpc libgtest-dev mono-mcs mono-runtime chromium chromium-driver nginx
deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done; \
		command -v npm >/dev/null || echo npm); \
	if [ -n "$$missing" ]; then \
		echo "make deps: installing Debian packages:" $$missing; \
		if [ "$$(id -u)" = 0 ]; then sudo=; elif command -v sudo >/dev/null; then sudo=sudo; \
		else echo "error: root or sudo needed; run as root: apt-get update &&" \
			"apt-get install -y" $$missing; exit 1; fi; \
		$$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			$$sudo apt-get install -y -qq --no-install-recommends $$missing \
		|| { echo "error: could not install:" $$missing; exit 1; }; \
	fi

# Node tools from the npm registry (tools/package.json): buf, which lints the wire contract.
tools/node_modules/.installed: tools/package.json
	@command -v npm >/dev/null || { echo "error: npm is needed for buf; run: apt-get install -y npm"; exit 1; }
	cd tools && npm install --silent --no-audit --no-fund
	@touch $@
tools: tools/node_modules/.installed

# The native client library (engine_bridge/native, root CMakeLists.txt): a release build in
# build/native (its shared library is what tests/engine_bridge/test_native_ctypes.py loads),
# its ctest suites (unit, and against a `latentstage serve` they start), then the same suites
# built with AddressSanitizer + UndefinedBehaviorSanitizer (-O1) in build/native-asan.
NATIVE_BUILD := build/native
NATIVE_ASAN := build/native-asan
NATIVE_LIB := $(abspath $(NATIVE_BUILD))/liblatentstage_client.so
NATIVE_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
NATIVE_CMAKE := -DLATENTSTAGE_BUILD_TESTS=ON -DLATENTSTAGE_SERVER=$(abspath $(BIN))/latentstage \
	-DLATENTSTAGE_PYTHON=$(abspath $(BIN))/python \
	$(if $(shell command -v ccache 2>/dev/null),-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)

native-build: $(STAMP) deps
	@command -v cmake >/dev/null || { echo "error: cmake is missing; run: make deps" \
		"(or apt-get install -y cmake g++ pkg-config libgrpc++-dev libprotobuf-dev" \
		"protobuf-compiler protobuf-compiler-grpc libgtest-dev)"; exit 1; }
	cmake -S . -B $(NATIVE_BUILD) -DCMAKE_BUILD_TYPE=Release -DLATENTSTAGE_BUILD_BENCH=ON \
		$(NATIVE_CMAKE)
	cmake --build $(NATIVE_BUILD) -j$(NATIVE_JOBS)

native-test: native-build
	ctest --test-dir $(NATIVE_BUILD) --output-on-failure

native-asan: $(STAMP) deps
	cmake -S . -B $(NATIVE_ASAN) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS=-O1 \
		"-DLATENTSTAGE_SANITIZE=address;undefined" $(NATIVE_CMAKE)
	cmake --build $(NATIVE_ASAN) -j$(NATIVE_JOBS)
	UBSAN_OPTIONS=print_stacktrace=1 ctest --test-dir $(NATIVE_ASAN) --output-on-failure

native: native-test native-asan

# Optional (not part of `make test`, it does not fit the time budget): ThreadSanitizer. gRPC,
# abseil and protobuf are not TSan-built here, so reports through them are suppressed
# (tests/native/tsan.supp) and only the library's own synchronisation is checked.
native-tsan: $(STAMP) deps
	cmake -S . -B build/native-tsan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS=-O1 \
		-DLATENTSTAGE_SANITIZE=thread $(NATIVE_CMAKE)
	cmake --build build/native-tsan -j$(NATIVE_JOBS)
	TSAN_OPTIONS="suppressions=$(abspath tests/native/tsan.supp) report_signal_unsafe=0" \
		ctest --test-dir build/native-tsan --output-on-failure

# `latentstage bench native` runs build/native/tests/native/latentstage_bench (and preloads
# liblatentstage_counters.so from there): native-build builds both.
native-bench: native-build

test: $(STAMP) deps tools lint native-build unity
	LATENTSTAGE_NATIVE_LIB=$(NATIVE_LIB) LATENTSTAGE_NATIVE_BUILD=$(abspath $(NATIVE_BUILD)) \
		$(BIN)/python -m pytest
	$(MAKE) native

# The Unity package's binding layer (engine_bridge/unity/.../Runtime/Native) and its mono test
# program, compiled with mcs into build/unity: `make test` stops here on a compile error. The
# tests run in pytest (tests/engine_bridge/test_unity_bindings.py: mono against a real server
# through the native library; tests/unity: the package's files). CI=true fails them, not skips,
# when mcs, mono or the library is missing.
unity: $(STAMP) deps
	$(BIN)/python tests/unity/harness.py
unity-test: unity native-build
	LATENTSTAGE_NATIVE_LIB=$(NATIVE_LIB) \
		$(BIN)/python -m pytest -q tests/engine_bridge/test_unity_bindings.py tests/unity
# Per-frame managed overhead of the C# binding under mono against the C library alone.
bench-unity: unity native-build
	LATENTSTAGE_NATIVE_LIB=$(NATIVE_LIB) $(BIN)/python tests/unity/bench_unity.py

# ruff, and the layer contracts of pyproject.toml ([tool.importlinter]): the runtime imports no
# model/export/engine_bridge/bench code outside its CLI root; the servicer and translate no torch.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) build *.egg-info out .pytest_cache .ruff_cache tools/node_modules
