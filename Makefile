.DEFAULT_GOAL := help
PY ?= python3

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install:  ## build the release extension and install the package with its test extras
	$(PY) -m pip install -q ".[test,bench]"

develop:  ## fast rebuild into the source tree (debug-free release, no LTO)
	maturin develop --profile ci -E test

lint:  ## rustfmt, clippy, ruff, mypy, and the stub checked against the compiled module
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	ruff check python tests benches
	ruff format --check python tests benches
	mypy python/poisonscreen
	$(PY) -m mypy.stubtest poisonscreen._poisonscreen --allowlist .ci/stubtest-allowlist.txt

# pytest processes (pytest-xdist); benchmarks run once as tests, and pytest-benchmark measures
# nothing under xdist: `make bench` runs them in one process. `worksteal`: a worker that runs out
# takes queued tests from the other, so the ~30 full-size dev-case scans (15-30 s each) do not
# leave one worker finishing alone
TEST_JOBS ?= 2

test:  ## cargo tests of the core, then pytest in TEST_JOBS processes
	cargo test -p poisonscreen-core
	$(PY) -m pytest -q -n $(TEST_JOBS) --dist worksteal

POLARS_MIN ?= 1.20.0

# The throwaway venv sees this interpreter's packages (the built poisonscreen, pytest and its
# plugins) through a .pth that adds its site directory after its own, so its polars comes first;
# `--system-site-packages` would give the base interpreter's packages instead, not this venv's.
test-polars-min:  ## the polars plugin tests on the lowest supported polars (throwaway venv)
	@d=$$(mktemp -d) && trap 'rm -rf "$$d"' EXIT && \
	$(PY) -m venv "$$d" && \
	$(PY) -c 'import sysconfig; print("import site; " + "; ".join(f"site.addsitedir({p!r})" for p in dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))))' \
		> "$$("$$d/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/parent.pth" && \
	"$$d/bin/python" -m pip install -q --disable-pip-version-check "polars==$(POLARS_MIN)" && \
	"$$d/bin/python" -c 'import polars; print("polars", polars.__version__)' && \
	"$$d/bin/python" -m pytest -q -p no:cacheprovider tests/test_plugin.py

test-ray:  ## the Ray engine tests (start a local 2-CPU Ray cluster; need the ray extra)
	$(PY) -m pytest -q -m ray tests/test_ray.py

bench:  ## measure: pytest-benchmark against the peers, criterion for the core
	$(PY) -m pytest benches -m "benchmark" --benchmark-enable -q
	cargo bench -p poisonscreen-core

check: install lint test  ## everything CI runs: install, lint, all tests

demo:  ## scan the bundled demo corpus into out/demo
	poisonscreen scan --demo --out out/demo --exit-zero
