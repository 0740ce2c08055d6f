# Everything a fresh machine needs: `make demo` runs the main job, `make test` runs the checks and the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench

# llama-cpp-python (the local model) compiles llama.cpp at install. Built for the host's own CPU, it crashes
# (SIGSEGV in the first decode) on hosts whose CPU reports AVX-512/AMX that the VM does not run; on x86-64 it is
# built for AVX2 instead, which every current x86-64 server has. Set CMAKE_ARGS yourself to choose otherwise.
ifeq ($(shell uname -m),x86_64)
CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
export CMAKE_ARGS
endif

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,local]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/spanlab demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: install
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.queries
