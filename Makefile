# The two commands of the README: `make demo` and `make test`. Everything installs into .venv;
# `make test` also installs Debian's mosquitto, chromium, a CJK font and GStreamer's RTSP server
# when they are missing (as root, or through sudo): the console tests drive the Debian browser
# with Playwright; the camera simulator serves RTSP through GStreamer under Debian's python3.
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint bench contract screenshots system-deps

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

SYSTEM_PACKAGES := mosquitto mosquitto-clients chromium fonts-wqy-zenhei \
  python3-gi gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-rtsp-server-1.0 \
  gstreamer1.0-rtsp gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
  gstreamer1.0-plugins-ugly

system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; fi

demo: $(VENV)/.installed
	$(VENV)/bin/campus-gateway demo $(foreach d,$(DIALECT),--dialect $(d))

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

test: system-deps lint
	$(PY) -m pytest

screenshots: $(VENV)/.installed  # the console's pictures in docs/console/, from its browser tests
	CONSOLE_DOCS_PICTURES=1 $(VENV)/bin/python -m pytest -q tests/console/test_board_live.py \
	  tests/console/test_follow_up.py tests/console/test_video.py

contract: $(VENV)/.installed
	$(VENV)/bin/campus-gateway contract --out docs/contract

bench: system-deps $(VENV)/.installed
	$(PY) bench/panic_latency.py
	$(PY) bench/outbox_throughput.py
	$(PY) bench/fire_latency.py
	$(PY) bench/abuse.py
	$(PY) bench/console_latency.py
	$(PY) bench/access_latency.py
	$(PY) bench/video_analytics.py
	$(PY) bench/camera_latency.py
