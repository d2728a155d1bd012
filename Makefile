# Everything a fresh Debian/Ubuntu machine needs, installed by the project itself.
#   make demo   set up, generate a sample seized server, and run every stage on it (forensics demo)
#   make test   set up (with the test tools) and run the whole test suite
#   make docs   build the examiner's guide (mkdocs, --strict)
#   make bench  the benchmarks: ingest against hashdeep (builds 2 GiB of files), dump reading
#               against MariaDB and PostgreSQL restores (2 million rows), Excel writing against
#               openpyxl (1 million rows), the whole pipeline on a 10-million-call sample against
#               a MariaDB restore (writes ~4 GB; allow a quarter of an hour)

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
FORENSICS := $(VENV)/bin/forensics
RUNTIME_DEBS := libmagic1 postgresql-client
BUILD_DEBS := gcc libssl-dev
TEST_DEBS := hashdeep p7zip-full mariadb-server mariadb-client postgresql postgresql-client libreoffice-calc

.PHONY: setup setup-test demo test docs bench lint clean

define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

$(VENV)/.installed: pyproject.toml forensics/_dumpscan.c forensics/_xlsxrows.c forensics/_intake.c forensics/_csvcheck.c
	$(call apt_install,$(RUNTIME_DEBS) $(BUILD_DEBS))
	@$(PYTHON) -c "import os, sys, sysconfig; sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" || { \
	  echo "installing python3-dev (the Python headers, to build the compiled dump scanner)"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends python3-dev; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip 'setuptools>=77' wheel
	$(PY) -m pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed

setup-test: setup
	$(call apt_install,$(TEST_DEBS))

demo: setup
	rm -rf forensics-demo
	$(FORENSICS) demo forensics-demo

test: setup-test
	$(PY) -m pytest -q

docs: setup
	$(VENV)/bin/mkdocs build --strict -q -d site

lint: setup
	$(VENV)/bin/ruff check .

bench: setup-test
	$(PY) bench/bench_ingest.py
	$(PY) bench/bench_dumps.py
	$(PY) bench/bench_exhibit.py
	$(PY) bench/bench_pipeline.py

clean:
	rm -rf $(VENV) site forensics-demo .pytest_cache
