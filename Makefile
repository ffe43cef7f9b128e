# FYM-Bench entry points. `make demo` and `make test` are the two set-up commands of the README:
# each installs the missing Debian packages first (apt-get; sudo when not root).
SWIFT    ?= swift
PACKAGES := libopenblas-dev libpng-dev pkg-config gnuplot-nox ffmpeg fonts-dejavu-core libdlib-data opencv-data python3-pip
# What only the tests need: a real single-node Slurm cluster (SlurmClusterTests) and a headless
# browser for the HTML report (HTMLReportTests).
TEST_PACKAGES := slurm-wlm munge chromium chromium-driver python3-selenium poppler-utils
BIN      := .build/release/fym-bench

.PHONY: demo test test-fast deps test-deps install-packages build bench clean

# The main job: prepare the real clip the quick profiles use, run every experiment's quick profile
# into Results/ (tables, figures, claims.md, README.md). Each step prints its wall time.
demo: build
	@start=$$(date +%s); $(BIN) datasets prepare carphone && echo "demo: data in $$(( $$(date +%s) - start )) s"
	@start=$$(date +%s); $(BIN) reproduce --profile quick --jobs 1 && echo "demo: experiments in $$(( $$(date +%s) - start )) s"

# Test classes that train avatars or diffusion models (about 6 of the 8 minutes of `make test`);
# `make test-fast` leaves them out. A test class that takes more than ~5 s joins this list.
SLOW_TESTS := HTMLReportTests|SlurmClusterTests|ExperimentFilesTests|FYMMethodTests|AvatarRefitTests|AvatarPipelineTests|HarnessFYMTests|TrackerTests|HarnessAvatarMethodTests|HarnessAvatarSourceTests|SyntheticDataTests|AvatarStorageTests|MotionFieldTests

# The test run uses the OpenBLAS kernels fym-bench itself uses (see BLAS.preferredCoreType).
define run_tests
	@core="$${OPENBLAS_CORETYPE:-$$($(BIN) version --blas-core 2>/dev/null)}"; \
	if [ -n "$$core" ]; then echo "OpenBLAS kernels: $$core"; export OPENBLAS_CORETYPE="$$core"; fi; \
	$(SWIFT) test -c release --skip-build $(1)
endef

test: test-deps
	$(SWIFT) build -c release --build-tests
	$(call run_tests,)

# Every test but $(SLOW_TESTS): under two minutes after a build.
test-fast: test-deps
	$(SWIFT) build -c release --build-tests
	$(call run_tests,--skip '$(SLOW_TESTS)')

build: deps
	$(SWIFT) build -c release --product fym-bench

bench: build
	$(BIN) bench engine --json

# Installs whichever of $(PACKAGES) (and for the tests $(TEST_PACKAGES)) is missing.
deps:
	@$(MAKE) --no-print-directory install-packages WANTED="$(PACKAGES)"

test-deps:
	@$(MAKE) --no-print-directory install-packages WANTED="$(PACKAGES) $(TEST_PACKAGES)"

install-packages:
	@missing=""; \
	for p in $(WANTED); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

clean:
	rm -rf .build
