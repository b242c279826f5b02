# dfdetect: every target creates (once) and reuses the virtual environment in .venv.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export WANDB_MODE ?= offline
export NO_ALBUMENTATIONS_UPDATE := 1

# Pass-through options, key=value for every command: make preprocess ARGS="data=dfdc data.root=/data/dfdc"
ARGS ?=

.PHONY: install test lint deps-check demo weights models preprocess train export predict evaluate bench clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# The one test command (README, .ci/run). pytest's exit code 5 (nothing collected) is a broken suite: it fails.
test: $(STAMP)
	@rc=0; $(PY) -m pytest -m "not gpu" $(ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$rc

lint: $(STAMP) deps-check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# pip check, minus decord 0.6.0's known packaging slip: its py3-none wheel declares the tag cp36 inside.
deps-check: $(STAMP)
	@out=$$($(PY) -m pip check 2>&1 | grep -v '^decord 0.6.0 is not supported on this platform$$' | grep -v '^No broken requirements found.$$'); \
	if [ -n "$$out" ]; then echo "$$out"; exit 1; else echo "pip check: no broken requirements (decord tag note ignored)"; fi

demo: $(STAMP)
	$(PY) -m src.demo $(ARGS)

# Detector weights for real users (MTCNN's ship inside its wheel): download, verify the sha256, place under weights/.
# make weights DETECTOR=retinaface_mnet   (dsfd, retinaface_r50: see conf/detector/*.yaml)
DETECTOR ?= retinaface_mnet
weights: $(STAMP)
	$(PY) -m src.faces.detectors.weights detector=$(DETECTOR) $(ARGS)

# Released DFDC models (download, sha256 check, conversion into models/): make models ENSEMBLE=selim|robustforensics
# The first download of files with no recorded hash: make models ENSEMBLE=selim ARGS=trust_unverified=true
# Files downloaded by hand (or NTech's, whose link is dead): python -m src.models.convert release=ntech src=<folder>
ENSEMBLE ?= robustforensics
models: $(STAMP)
	$(PY) -m src.models.release release=$(ENSEMBLE) $(ARGS)

preprocess: $(STAMP)
	$(PY) preprocess.py $(ARGS)

# make train                      the default experiment with no data to hold: experiment=smoke on generated clips
# make train ARGS="model=b7_seq_416 trainer=ddp data.root=/data/dfdc"   any real run
train: $(STAMP)
ifeq ($(strip $(ARGS)),)
	$(PY) -m src.datamodules.synthetic work_dir=work/synthetic
	$(PY) train.py experiment=smoke
else
	$(PY) train.py $(ARGS)
endif

# make export ARGS="ckpt=outputs/train/.../checkpoints/last.ckpt out=models"
export: $(STAMP)
	$(PY) -m src.models.export $(ARGS)

# make predict VIDEOS=test_videos OUT=submission.csv [ARGS="ensemble=robustforensics models_dir=/models"]
VIDEOS ?=
OUT    ?= submission.csv
predict: $(STAMP)
	$(PY) predict.py $(if $(VIDEOS),videos=$(VIDEOS)) out=$(OUT) $(ARGS)

# make evaluate OUT=submission.csv LABELS=labels.csv [ARGS="timeline=[dfdc/abc.mp4]"]
evaluate: $(STAMP)
	$(PY) -m src.inference.evaluate submission=$(OUT) labels=$(LABELS) $(ARGS)

# make bench BENCH=detect   (video_io | detect | storage | train_step | predict; tables in docs/benchmarks.md)
BENCH ?= video_io
bench: $(STAMP)
	$(PY) bench/$(BENCH).py $(ARGS)

clean:
	rm -rf outputs multirun .pytest_cache .ruff_cache
