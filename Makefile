# The two quick-start commands: `make demo` and `make test`. Each sets up .venv from nothing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

$(BIN)/activate: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev,examples,onnx]"
	touch $(BIN)/activate

.PHONY: setup demo test bench lint
setup: $(BIN)/activate

demo: setup
	$(BIN)/python examples/xor_article.py --out out/xor_article

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/run.py

lint: setup
	$(BIN)/ruff check .
