# Every target runs the Invoke task of the same name; the virtual environment
# is made on first use.
VENV := .venv
PY := $(VENV)/bin/python
INVOKE := $(VENV)/bin/invoke
NOX := $(VENV)/bin/nox

.PHONY: help show-git-info check-base-images-version build-local test-local-images \
        clean-local-images test host

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

show-git-info check-base-images-version clean-local-images: $(VENV)/.installed
	$(INVOKE) $@ $(ARGS)

build-local: $(VENV)/.installed host
	$(INVOKE) $@ $(ARGS)

test-local-images: $(VENV)/.installed host
	$(INVOKE) $@ $(ARGS)

# Everything CI runs: lint, types, unit tests, then build the images (warm
# caches make this quick) and prove they serve a model.
test: $(VENV)/.installed host
	$(NOX) -s lint typecheck tests
	$(INVOKE) build-local $(ARGS)
	$(NOX) -s test_images
