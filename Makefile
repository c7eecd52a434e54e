# Two commands on a fresh machine: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export COMPLIANCE_HOME ?= $(CURDIR)/compliance-data

.PHONY: run demo test lint format bench bench-cover bench-service bench-history bench-ai bench-voice train-ai train-voice install clean eval-corpus

$(STAMP): pyproject.toml scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The GE2E speaker-encoder weights are converted from the pinned Resemblyzer wheel (PyPI)
# at install, not committed: scripts/convert_ge2e.py checks the wheel's and the result's
# SHA-256, so every checkout gets the same file.
GE2E := fingerprints/models/ge2e_v1.npz
$(GE2E): scripts/convert_ge2e.py | $(STAMP)
	$(PY) scripts/convert_ge2e.py

install: $(STAMP) $(GE2E)

# The demo (catalogue, seven uploads, decisions), then the service on it with an embedded
# worker and a demo API key (Ctrl-C stops it). `make demo` is the demo alone.
run: demo
	$(VENV)/bin/compliance serve --embedded-worker --demo-key

demo: $(STAMP) $(GE2E)
	$(VENV)/bin/compliance demo

test: $(STAMP) $(GE2E)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# The harness corpus is built outside the repository (EVAL_CACHE); see docs/benchmarks.md.
EVAL_DIR ?= ../shared/eval
EVAL_CACHE ?= $(abspath ../eval-cache)
bench: $(STAMP) $(GE2E)
	bash scripts/bench.sh "$(EVAL_DIR)" "$(EVAL_CACHE)"

# Cover detector speed: rescoring of 20 candidates for a 4-minute upload, and the
# shortlist over 100,000 synthetic embeddings (docs/benchmarks.md, "Covers (issue 4)").
bench-cover: $(STAMP) $(GE2E)
	$(PY) scripts/bench_cover.py

# The AI-generated-audio classifier (fingerprints/models/ai_v2.json and its card), trained
# from data the script renders itself (Debian music packages, fluidsynth, the project's
# synthesiser; never the evaluation corpus). AI_TRAIN_CACHE holds the rendered set
# (outside the repository; about 1 GB, 20-30 minutes on 2 cores the first time).
AI_TRAIN_CACHE ?= $(abspath ../ai-cache)
train-ai: $(STAMP) $(GE2E)
	AI_TRAIN_CACHE="$(AI_TRAIN_CACHE)" $(PY) scripts/train_ai.py

# AI detector speed (seconds per minute of audio) and results on 5/10/30 s clips.
bench-ai: $(STAMP) $(GE2E)
	$(PY) scripts/bench_ai.py

# Intake service load and fault figures (docs/benchmarks.md, "Intake service (issue 3)").
bench-service: $(STAMP) $(GE2E)
	$(PY) scripts/loadtest.py && $(PY) scripts/faulttest.py

# Release history: the incremental check against 1,000,000 synthetic releases, and
# import + flags of the corpus bulk log (docs/benchmarks.md, issue 6).
bench-history: $(STAMP) $(GE2E)
	$(PY) scripts/bench_history.py --log "$(EVAL_CACHE)/corpus/dev/bulk/releases.jsonl" \
		--protected "$(EVAL_CACHE)/corpus/dev/bulk/protected_artists.txt"

clean:
	rm -rf $(VENV) compliance-data .pytest_cache .ruff_cache

# Voice detector speed: analysis CPU seconds per minute of audio, search over 10,000
# enrolled voices (docs/benchmarks.md, "Voice clones (issue 7)").
bench-voice: $(STAMP) $(GE2E)
	$(PY) scripts/bench_voice.py

# The voice-presence model (fingerprints/models/voice_presence_v1.json and its card),
# trained from scratch on speech and music the project installs (cache outside the repo).
train-voice: $(STAMP) $(GE2E)
	$(PY) scripts/train_voice_presence.py --cache "$(EVAL_CACHE)/voice-cache"
