# The README's two commands: `make demo` and `make test`. Both set up what they need
# on a fresh Debian machine (as root): the Debian packages and a virtualenv.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
APT_PACKAGES := isc-dhcp-server isc-dhcp-client isc-dhcp-relay dhcpd-pools iproute2 \
	chromium chromium-driver zsh fish systemd nftables nginx openssl python3-venv
# Debian's nginx starts a server on port 80 when it is installed (its postinst runs
# `invoke-rc.d nginx start`); the tests run nginx of their own (tests/test_nginx_proxy.py).
# For the install, a policy-rc.d answering 101, "action forbidden" (invoke-rc.d(8); also
# honoured by deb-systemd-invoke), keeps every installed service stopped; it is removed
# after, and one the machine already has is left as it is. A newly installed nginx is
# also kept from starting at the next boot.
POLICY_RC_D ?= /usr/sbin/policy-rc.d
# Only the benchmarks need these (bench/README.md).
# promtool (tests of deploy/prometheus/omapifo.rules.yml) comes from Debian's prometheus
# package; only its .deb is fetched and unpacked into the venv, so installing it never
# starts a Prometheus server on the machine.
PROMTOOL_APT_PACKAGE := prometheus
BENCH_APT_PACKAGES := wrk kea-dhcp4-server kea-ctrl-agent kea-common
PYTEST_ARGS ?=

.PHONY: setup apt promtool venv lint test test-unit test-integration demo bench lab-down clean

setup: apt venv promtool

# Installs the Debian packages the lab, the status page's browser tests, the zsh and
# fish completion tests, the unit's systemd-analyze tests and the lab's firewall rules (nft)
# need when any tool is missing.
apt:
	@missing=""; for t in dhcpd dhclient dhcrelay dhcpd-pools ip chromium chromedriver zsh fish systemd-analyze nft nginx openssl; do \
	  command -v $$t >/dev/null 2>&1 || [ -x /usr/sbin/$$t ] || missing="$$missing $$t"; done; \
	[ ! -x /usr/bin/python3 ] || /usr/bin/python3 -c 'import ensurepip' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing:$$missing; run as root: apt-get install $(APT_PACKAGES)"; exit 2; fi; \
	  echo "installing $(APT_PACKAGES)"; \
	  had_nginx=$$(dpkg-query -W -f='$${Status}' nginx 2>/dev/null | grep -c ' installed$$'); \
	  if [ ! -e $(POLICY_RC_D) ]; then \
	    printf '#!/bin/sh\n# make apt: no service starts while it installs\nexit 101\n' > $(POLICY_RC_D); \
	    chmod 755 $(POLICY_RC_D); trap 'rm -f $(POLICY_RC_D)' EXIT; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null \
	    || exit $$?; \
	  if [ "$$had_nginx" = 0 ]; then \
	    if [ -d /run/systemd/system ]; then systemctl disable --quiet nginx; \
	    else update-rc.d nginx disable >/dev/null 2>&1 || true; fi; fi; \
	fi

# promtool into $(VENV)/bin (tests/test_prometheus_rules.py looks there and on PATH).
promtool: $(VENV)/bin/promtool

$(VENV)/bin/promtool: | $(VENV)/.installed
	@if command -v promtool >/dev/null 2>&1; then ln -sf "$$(command -v promtool)" $@; else \
	  d=$$(mktemp -d) && (cd $$d && apt-get download -qq $(PROMTOOL_APT_PACKAGE) 2>/dev/null || \
	    { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get download -qq $(PROMTOOL_APT_PACKAGE); }) && \
	  dpkg-deb -x $$d/$(PROMTOOL_APT_PACKAGE)_*.deb $$d/x && \
	  install -m 755 $$d/x/usr/bin/promtool $@ && rm -rf $$d; fi

venv: $(VENV)/.installed

# Debian's /usr/bin/python3 when there is one: a venv made from a python under /root
# (pyenv; /root is 0700) cannot be run by the users the production tests run omapifo as
# (omapifo, nagios: tests/test_production.py).
VENV_PYTHON := $(shell test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(VENV_PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[service,lab,test]'
	touch $@

# ruff on everything; mypy --strict on the library and on the pair contract's other
# implementation (clients/remote.py, with the REST client and the backends it serves).
# api/ and clients/ are installed as omapifo.api and omapifo.clients (setup.cfg
# package_dir), so mypy reads them through a tree of links laid out the installed way;
# what they import from api/ (the schemas) is followed but not reported.
TYPECHECK := build/typecheck
lint: venv
	$(VENV)/bin/ruff check omapifo api clients lab tests bench
	$(VENV)/bin/mypy --strict omapifo
	rm -rf $(TYPECHECK) && mkdir -p $(TYPECHECK)/omapifo
	ln -s $(CURDIR)/omapifo/* $(TYPECHECK)/omapifo/
	ln -s $(CURDIR)/api $(TYPECHECK)/omapifo/api
	ln -s $(CURDIR)/clients $(TYPECHECK)/omapifo/clients
	cd $(TYPECHECK) && $(abspath $(VENV))/bin/mypy --strict --follow-imports=silent \
		-p omapifo.clients.remote -p omapifo.clients.backend -p omapifo.clients.client

# Two pytest-xdist workers: the suite mostly waits on dhcpd's timers, and each worker has
# labs of its own (tests/conftest.py keeps each file on one worker and puts the files that
# share the host's users and sysctls, or the large lab, on the same one). WORKERS=0 runs
# it in this process (pytest -n 0), as a debugger wants.
WORKERS ?= 2
XDIST = -n $(WORKERS) --dist loadgroup

test: setup
	$(VENV)/bin/pytest $(XDIST) $(PYTEST_ARGS)

test-unit: venv
	$(VENV)/bin/pytest -m "not integration" $(XDIST) $(PYTEST_ARGS)

test-integration: setup
	$(VENV)/bin/pytest -m integration $(XDIST) $(PYTEST_ARGS)

demo: setup
	$(VENV)/bin/omapifo demo

bench: setup
	@if [ "$$(id -u)" = 0 ]; then DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(BENCH_APT_PACKAGES) >/dev/null; fi
	$(PY) bench/run_all.py

lab-down:
	$(VENV)/bin/omapifo lab down

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
