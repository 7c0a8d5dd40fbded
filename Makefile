# wasmops: two commands do everything on a fresh machine with python3 and make.
#   make demo   runs the main job end to end on embedded defaults
#   make test   passes the tests
SHELL := /bin/bash
PY ?= python3
# uv: the one on PATH, else `python3 -m uv`, else one bootstrapped into .tools/ (tools/bootstrap_uv.py).
# Not `pip install uv`: Debian 12+/Ubuntu 23.04+ refuse it for the system Python (PEP 668), even as root.
UV := $(shell command -v uv 2>/dev/null || ($(PY) -m uv --version >/dev/null 2>&1 && echo "$(PY) -m uv") || echo .tools/bin/uv)
VENV := .venv
# Debian packages the tests use: a real OCI registry, skopeo, prometheus, wabt, and clang + wasi-libc
# (C builds in 0.2 s instead of a 30 s first zig-cc build; zig cc stays the fallback).
DEB_PKGS := docker-registry skopeo prometheus wabt git clang lld wasi-libc libclang-rt-dev-wasm32 chromium wrk postgresql iproute2 iptables
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1
export OMP_NUM_THREADS := 1
# hypothesis examples fixed per test (tests/conftest.py): CI reruns exactly what passed here
export HYPOTHESIS_PROFILE := ci

DOCTEST_IGNORE := --ignore=wasmops/demo/run.py --ignore=wasmops/demo/ai.py --ignore=wasmops/demo/approvals.py
# Test files run in the tests/ops process instead of the parallel stage: that process ended minutes
# before the parallel stage (seventh session: 412 s against 596 s). These need no Prefect
# harness (the ops process starts none) and mostly wait on hosts and agents (docs/decisions.md,
# "make test, eighth session").
BESIDE := tests/test_agent_fleet.py tests/test_cli.py tests/host/test_host_at_rest.py

.PHONY: install deps-system test demo lint bench clean

install:
	@$(UV) --version >/dev/null 2>&1 || $(PY) tools/bootstrap_uv.py .tools
	@# --compile-bytecode (17.6 s of a fresh clone's install): where PYTHONDONTWRITEBYTECODE is set, as on
	@# this machine, nothing compiled later is kept, and every process would compile what it imports
	@# (tried: the suite then took minutes longer).
	$(UV) sync --frozen --compile-bytecode --quiet

deps-system:
	@missing=""; for p in $(DEB_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

test: install deps-system
	$(VENV)/bin/lint-imports --no-cache
	@# The full-stack tests (tests/ops) mostly wait on servers and a browser: they run beside the
	@# parallel stage, their output printed after it, and either failing fails `make test`. The core's
	@# doctests run first in that process, which ends minutes before the parallel stage (run on their
	@# own before both stages, their imports of every module held up the start by 20-40 s).
	@$(VENV)/bin/python -m pytest -q -p no:xdist --doctest-modules wasmops models tests/ops $(BESIDE) $(DOCTEST_IGNORE) \
	  --durations=10 > .ops-tests.log 2>&1 & ops=$$!; \
	$(VENV)/bin/python -m pytest -q -n 2 --dist loadfile --ignore=tests/ops $(addprefix --ignore=,$(BESIDE)) --durations=15; main=$$?; \
	wait $$ops; opsrc=$$?; echo "== doctests and tests/ops (ran beside the stage above): exit $$opsrc"; cat .ops-tests.log; \
	test $$main = 0 -a $$opsrc = 0

demo: install
	$(VENV)/bin/python -m wasmops.demo.run

bench: install deps-system
	for b in bench/*.py; do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf .wasmops out
