# Everything a user runs. `make test` sets up its own virtual environment.
PYTHON ?= python3
HOST ?= 127.0.0.1
PORT ?= 9998
# the server's database (make run-server DB= : memory only)
DB ?= var/chat.sqlite3
VENV ?= .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: help run-server run-client test bench bench-full clean

help:
	@echo "make run-server [HOST=127.0.0.1] [PORT=9998] [DB=var/chat.sqlite3]  start the chat server"
	@echo "make run-client [HOST=127.0.0.1] [PORT=9998]  start the chat client"
	@echo "make test                                      run the test suite (sets up $(VENV))"
	@echo "make bench / make bench-full                   run the benchmark suite"

run-server:
	$(if $(DB),@mkdir -p $(dir $(DB)))
	$(PYTHON) -m chat.server --host $(HOST) --port $(PORT) $(if $(DB),--db $(DB)) $(ARGS)

run-client:
	$(PYTHON) -m chat.client --host $(HOST) --port $(PORT) $(ARGS)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet $$($(PYTHON) tests/extra_requirements.py)
	touch $(STAMP)

test: $(STAMP)
	$(VPY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(VPY) -m bench --suite quick $(ARGS)

bench-full: $(STAMP)
	$(VPY) -m bench --suite full $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
