# qbittorrent-fsi: `make run` runs the whole stack, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
export FSI_HOME ?= $(CURDIR)/var
BIN := $(VENV)/bin

.PHONY: run test ctl bench clean

$(BIN)/qbittorrent-fsi: setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

run: $(BIN)/qbittorrent-fsi
	$(BIN)/qbittorrent-fsi run

test: $(BIN)/qbittorrent-fsi
	$(BIN)/pytest

bench: $(BIN)/qbittorrent-fsi
	$(BIN)/python -m bench.run $(ARGS)

ctl: $(BIN)/qbittorrent-fsi
	$(BIN)/qbittorrent-fsi ctl $(ARGS)

clean:
	rm -rf $(VENV) var *.egg-info .pytest_cache .hypothesis
