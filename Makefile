# qbittorrent-fsi: `make run` runs the whole stack, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
export FSI_HOME ?= $(CURDIR)/var
BIN := $(VENV)/bin

.PHONY: run test passwd fuzz ctl bench clean screenshot

$(BIN)/qbittorrent-fsi: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

run: $(BIN)/qbittorrent-fsi
	$(BIN)/qbittorrent-fsi run

test: $(BIN)/qbittorrent-fsi
	$(BIN)/pytest

# Refresh docs/screenshot.png from the browser journey test (real stack, Debian's chromium).
screenshot: $(BIN)/qbittorrent-fsi
	UPDATE_SCREENSHOT=1 $(BIN)/pytest tests/test_browser.py -k start_open

# The property-based tests with 12,000+ examples in-process and 1,000 on the real stack.
fuzz: $(BIN)/qbittorrent-fsi
	$(BIN)/pytest --hypothesis-profile=fuzz tests/test_fuzz.py tests/test_e2e_fuzz.py

bench: $(BIN)/qbittorrent-fsi
	$(BIN)/python -m bench.run $(ARGS)

passwd: $(BIN)/qbittorrent-fsi
	$(BIN)/qbittorrent-fsi passwd

ctl: $(BIN)/qbittorrent-fsi
	$(BIN)/qbittorrent-fsi ctl $(ARGS)

clean:
	rm -rf $(VENV) var build dist *.egg-info .pytest_cache .hypothesis
