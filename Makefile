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

.PHONY: setup deps tools demo flythrough test lint clean torch-cpu torch-cuda

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
# gRPC C++, protobuf, GoogleTest, CMake) and the C# bindings (Mono). Installed with apt-get as
# root, or through sudo; only the missing ones, and the list is printed first.
APT_PACKAGES := cmake g++ make pkg-config libgrpc++-dev libprotobuf-dev protobuf-compiler \
	protobuf-compiler-grpc libgtest-dev mono-mcs mono-runtime
deps:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
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

test: $(STAMP) deps tools lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info out .pytest_cache .ruff_cache tools/node_modules
