# Set-up and the two commands of the README. Each target creates or reuses .venv and installs
# what it needs; torch is pinned to the CPU build first so that pip never pulls CUDA wheels.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_VERSION ?= 2.13.0
STAMP := $(VENV)/.installed

.PHONY: setup demo flythrough test lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -c "import torch" 2>/dev/null || \
		$(BIN)/python -m pip install --quiet "torch==$(TORCH_VERSION)"
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

# The main job: the bundled model flies away from a seed frame and back (demo.mp4, report.json).
demo: $(STAMP)
	$(BIN)/latentstage demo --out out/demo

# A procedural world fly-through with ground truth (frames, depth, sky, cameras.json, mp4).
flythrough: $(STAMP)
	$(BIN)/latentstage worlds render --seed 7 --kind indoor --trajectory loop --frames 120 \
		--size 256x256 --out out/flythrough --video

test: $(STAMP) lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build *.egg-info out .pytest_cache .ruff_cache
