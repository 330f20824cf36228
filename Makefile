# qbittorrent-fsi: `make run` runs the whole stack, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
export FSI_HOME ?= $(CURDIR)/var
BIN := $(VENV)/bin

.PHONY: run test passwd fuzz ctl bench clean screenshot install-unas deb

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

# The U-NAS app: its desktop files in $(UNAS_DIR)/apps/qbittorrent/ and the nginx
# snippet forwarding /apps/qbittorrent/ to the plugin on 127.0.0.1:$(FSI_PORT).
UNAS_DIR ?= /unas
NGINX_SNIPPETS ?= /etc/nginx/snippets
FSI_PORT ?= 8086
UNAS_APP := $(DESTDIR)$(UNAS_DIR)/apps/qbittorrent

install-unas:
	install -d $(UNAS_APP)/images $(DESTDIR)$(NGINX_SNIPPETS)
	install -m 644 unas/qbittorrent/app.json unas/qbittorrent/app.js \
		unas/qbittorrent/translation.json $(UNAS_APP)/
	install -m 644 unas/qbittorrent/images/* $(UNAS_APP)/images/
	sed -e 's|http://127\.0\.0\.1:8086/|http://127.0.0.1:$(FSI_PORT)/|' -e 's|root /unas;|root $(UNAS_DIR);|' \
		conf/nginx-qbittorrent-fsi.conf > $(DESTDIR)$(NGINX_SNIPPETS)/qbittorrent-fsi.conf
	chmod 644 $(DESTDIR)$(NGINX_SNIPPETS)/qbittorrent-fsi.conf

# The Debian package dist/qbittorrent-fsi_<version>-$(DEB_REVISION)_all.deb, built offline
# with dpkg-deb from this checkout (deb/, docs/DEBIAN.md); no venv needed.
DEB_REVISION ?= 1

deb:
	$(PYTHON) deb/build.py --revision $(DEB_REVISION)

clean:
	rm -rf $(VENV) var build dist *.egg-info .pytest_cache .hypothesis
