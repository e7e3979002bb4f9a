# Two commands do all the set-up on a fresh machine: `make serve` and `make test`.
# Everything installs into .venv (and tests/contract/node/node_modules); nothing global but WordNet.

VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NODE_STAMP := tests/contract/node/node_modules/.package-lock.json
PYTEST_ARGS ?=

.PHONY: install serve test lint wordnet node bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0  # CPU build (on this machine's disk); before anything asks for torch
	$(BIN)/pip install -q -e '.[python-graders,dev,test-rewards]'
	$(BIN)/pip install -q --no-deps verl==0.9.1  # only its reward managers are used (tests/rewards)
	touch $@

# METEOR needs WordNet 3.0, never downloaded at run time: Debian's wordnet-base plus wordnet-sense-index
# (index.sense, which nltk's stock WordNetCorpusReader and the tests need), or an NLTK data dir that has
# both. The emulator finds either by itself.
WORDNET_PACKAGES := wordnet-base wordnet-sense-index

wordnet:
	@if [ -f /usr/share/wordnet/data.noun ] && [ -f /usr/share/wordnet/index.sense ]; then \
	  echo "WordNet: found in /usr/share/wordnet"; \
	elif $(BIN)/python -c "import nltk; nltk.data.find('corpora/wordnet/data.noun'); nltk.data.find('corpora/wordnet/index.sense')" 2>/dev/null; then \
	  echo "WordNet: found in an NLTK data dir"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get install -y -qq --no-install-recommends $(WORDNET_PACKAGES) >/dev/null 2>&1 || \
	   (apt-get update -qq && apt-get install -y -qq --no-install-recommends $(WORDNET_PACKAGES) >/dev/null)) && echo "WordNet: installed $(WORDNET_PACKAGES)"; \
	else \
	  echo "WordNet is missing: run 'sudo apt-get install $(WORDNET_PACKAGES)' (or 'python -m nltk.downloader wordnet')"; exit 1; \
	fi

node: $(NODE_STAMP)

$(NODE_STAMP): tests/contract/node/package.json tests/contract/node/package-lock.json
	npm ci --prefix tests/contract/node --no-audit --no-fund --loglevel=error

serve: install
	$(BIN)/graders-emulator serve

test: install wordnet node
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	PYTHONPATH=app $(BIN)/lint-imports

bench: install
	$(BIN)/python bench/bench_http.py
	$(BIN)/python bench/bench_metrics.py

clean:
	rm -rf $(VENV) tests/contract/node/node_modules
