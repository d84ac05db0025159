PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test install demo toy-base toy-ablation

# setup.py states compatible ranges; constraints.txt holds the exact set the tests ran with.
$(STAMP): setup.py constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -q tests

# A miniature of the whole study on the toy world (CPU, minutes); prints where the report is.
# Rerunning reuses finished steps (results/toy_demo/manifest.json).
demo: $(STAMP)
	$(PY) -m pinchjax.cli study gin/studies/toy_demo.gin --results results/toy_demo

# Rebuilds the shipped toy base model (toy_base/): toy world, vocabulary, pretraining.
toy-base: $(STAMP)
	$(PY) -m pinchjax.study.toy_base

# Pretrains the toy ablation's bases (one resumable study each) and tabulates their diagnostics
# against transfer: results/toy_ablation/ablation.md. ONLY=four,four_long runs some.
toy-ablation: $(STAMP)
	$(PY) -m pinchjax.study.ablation gin/studies/toy_ablation.gin --results results/toy_ablation \
	  $(if $(ONLY),--only $(ONLY))
