# Every target but the helpers (help, host, test) runs the Invoke task of the same
# name, and every Invoke task has a target (tests/unit/test_makefile.py checks
# both ways); the virtual environment is made on first use.
VENV := .venv
PY := $(VENV)/bin/python
INVOKE := $(VENV)/bin/invoke
NOX := $(VENV)/bin/nox

.PHONY: help host test show-git-info check-base-images-version diff-upstream render-recipes \
        release-base-images ci-matrix bake-file build-local build-builders export-ccache \
        bench test-local-images clean-local-images publish-images

help:
	@$(INVOKE) --list

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,lint]'
	touch $@

# The Docker engine and debootstrap (Debian's packages), installed when missing.
host:
	@./.ci/install-host

# Tasks that need only git and files.
show-git-info check-base-images-version diff-upstream render-recipes release-base-images: $(VENV)/.installed
	$(INVOKE) $@ $(ARGS)

ci-matrix bake-file: $(VENV)/.installed
	$(INVOKE) $@ $(ARGS)

# Tasks that build images or use the engine.
build-local build-builders export-ccache bench: $(VENV)/.installed host
	$(INVOKE) $@ $(ARGS)

test-local-images clean-local-images publish-images: $(VENV)/.installed host
	$(INVOKE) $@ $(ARGS)

# Everything CI runs: lint, types, unit tests, then build the images (warm
# caches make this quick), prove they serve a model, and run the release
# workflow with act (skipped, saying why, where act's copies of the actions are
# absent: LLAMA_IMAGES_ACTIONS_DIR, default ../shared/actions). Building upstream's
# recipes to compare with is left to `nox -s equivalence` and the bench.
test: $(VENV)/.installed host
	$(NOX) -s lint typecheck tests
	$(INVOKE) build-local $(ARGS)
	$(NOX) -s test_images
	$(NOX) -s workflow
