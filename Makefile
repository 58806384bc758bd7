# The two commands of the README: `make demo` and `make test`. Everything installs into .venv;
# `make test` also installs Debian's mosquitto when it is missing (as root, or through sudo).
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint bench contract system-deps

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

system-deps:
	@command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || \
	  ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq mosquitto mosquitto-clients)

demo: $(VENV)/.installed
	$(VENV)/bin/campus-gateway demo

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: system-deps lint
	$(PY) -m pytest

contract: $(VENV)/.installed
	$(VENV)/bin/campus-gateway contract --out docs/contract

bench: system-deps $(VENV)/.installed
	$(PY) bench/panic_latency.py
	$(PY) bench/outbox_throughput.py
	$(PY) bench/fire_latency.py
	$(PY) bench/abuse.py
