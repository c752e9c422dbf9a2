# IJR build. `make test` and `make coverage` are the proposal's targets; `make demo` shows
# the product working. The pinned Deno comes from npm when the one on PATH is another version.

SHELL := /bin/bash
DENO_VERSION := 2.9.6
BUF_VERSION := 1.75.0
PROTOC_GEN_ES_VERSION := 2.17.0

TOOLS := $(CURDIR)/.tools
BUILD := $(CURDIR)/build
DIST := $(CURDIR)/dist

# Use deno from PATH only when it is exactly the pinned version.
SYSTEM_DENO := $(shell command -v deno 2>/dev/null)
SYSTEM_DENO_VERSION := $(if $(SYSTEM_DENO),$(shell $(SYSTEM_DENO) --version 2>/dev/null | head -n1 | cut -d' ' -f2))
ifeq ($(SYSTEM_DENO_VERSION),$(DENO_VERSION))
DENO := $(SYSTEM_DENO)
DENO_DEP :=
else
DENO := $(TOOLS)/bin/deno
DENO_DEP := $(DENO)
endif
export DENO

CC ?= gcc
CFLAGS := -std=gnu11 -O2 -fPIC -Wall -Wextra -Werror -fvisibility=hidden -D_GNU_SOURCE
FFI_SOURCES := $(wildcard ffi/*.c)
FFI_HEADERS := $(wildcard ffi/*.h) ffi/ijr_abi.h
LIBIJR := $(BUILD)/libijr.so
# The job's init: a small static program, embedded in libijr.so (ffi/init_blob.S).
INIT_SOURCES := $(wildcard ffi/init/*.c) ffi/job_report.c ffi/text.c
IJR_INIT := $(BUILD)/ijr-init

.PHONY: all lib tools test test-unit coverage check fmt fmt-check lint proto proto-check abi help-pages build dist demo clean fixtures

all: lib fixtures check lint fmt-check

TOOLS_STAMP := $(TOOLS)/.installed-deno$(DENO_VERSION)-buf$(BUF_VERSION)-es$(PROTOC_GEN_ES_VERSION)
tools: $(TOOLS_STAMP)

# npm is the only reachable source of these tools: the Deno binary comes in its platform
# package (@deno/linux-x64-glibc), buf and protoc-gen-es in theirs. One install, one stamp.
$(TOOLS_STAMP):
	@mkdir -p $(TOOLS)/bin
	cd $(TOOLS) && npm install --no-save --no-audit --no-fund --loglevel=error \
	  deno@$(DENO_VERSION) @bufbuild/buf@$(BUF_VERSION) @bufbuild/protoc-gen-es@$(PROTOC_GEN_ES_VERSION)
	@bin=$$(ls $(TOOLS)/node_modules/@deno/linux-*/deno 2>/dev/null | head -n1); \
	  [ -n "$$bin" ] || bin=$(TOOLS)/node_modules/deno/deno; \
	  ln -sf "$$bin" $(TOOLS)/bin/deno && $(TOOLS)/bin/deno --version | head -n1
	@touch $@

$(TOOLS)/bin/deno: $(TOOLS_STAMP)

lib: $(LIBIJR)

$(IJR_INIT): $(INIT_SOURCES) $(FFI_HEADERS) $(wildcard ffi/init/*.h)
	@mkdir -p $(BUILD)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -static -s -o $@ $(INIT_SOURCES)

FFI_ASM := $(wildcard ffi/*.S)
$(LIBIJR): $(FFI_SOURCES) $(FFI_HEADERS) $(FFI_ASM) $(IJR_INIT)
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) -shared -o $@ $(FFI_SOURCES) -DIJR_INIT_PATH='"$(IJR_INIT)"' $(FFI_ASM) \
	  -Wl,-Bstatic -lseccomp -Wl,-Bdynamic

# Test fixtures built from the host, never downloaded (DESIGN.md §9).
fixtures: $(BUILD)/probe $(BUILD)/cgroup_hog

$(BUILD)/%: tests/fixtures/%.c
	@mkdir -p $(BUILD)
	$(CC) -std=gnu11 -O2 -Wall -Wextra -Werror -static -o $@ $<

check: $(DENO_DEP) lib
	$(DENO) check mod.ts daemon.ts ctl.ts tests/ bench/

lint: $(DENO_DEP)
	$(DENO) lint

fmt: $(DENO_DEP)
	$(DENO) fmt

fmt-check: $(DENO_DEP)
	$(DENO) fmt --check

# The suite, then its leak check as a step of its own (tests/leak_check.ts): ordered here,
# not by file names.
test: $(DENO_DEP) lib fixtures
	started=$$(date +%s%3N) && $(DENO) test --allow-all tests/ && \
	  IJR_TEST_STARTED=$$started $(DENO) test --allow-all tests/leak_check.ts

coverage: $(DENO_DEP) lib fixtures
	rm -rf coverage
	$(DENO) test --allow-all --coverage=coverage tests/
	$(DENO) coverage coverage

# Regenerate lib/gen from proto/ with buf + protoc-gen-es (both from npm).
proto: tools
	rm -rf lib/gen
	cd proto && PATH=$(TOOLS)/node_modules/.bin:$$PATH buf generate

# Fails when lib/gen differs from what proto/ generates.
proto-check: tools
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	  mkdir -p $$tmp/x && cd proto && PATH=$(TOOLS)/node_modules/.bin:$$PATH buf generate --output $$tmp/x && cd .. && \
	  if ! diff -r $$tmp/lib/gen lib/gen; then \
	    echo "lib/gen is stale: run 'make proto' and commit the result" >&2; exit 1; fi && \
	  echo "lib/gen is fresh"

# Re-render ffi/ijr_abi.h, the structs, enums and constants TypeScript and libijr share, from
# lib/native/abi.ts; tests/unit/native_abi_test.ts fails while it is stale.
abi: ffi/ijr_abi.h

ffi/ijr_abi.h: lib/native/abi.ts lib/native/abi_render.ts $(wildcard lib/native/symbols*.ts) $(DENO_DEP)
	$(DENO) run --allow-all lib/native/abi_render.ts > ffi/ijr_abi.h.tmp
	mv ffi/ijr_abi.h.tmp ffi/ijr_abi.h

# Re-render ijrctl's help pages (lib/ctl/help_pages.ts) after changing lib/ctl/program.ts;
# tests/unit/ctl_help_pages_test.ts fails while they are stale.
help-pages: $(DENO_DEP)
	$(DENO) run --allow-all lib/ctl/help_render.ts > lib/ctl/help_pages.ts.tmp
	mv lib/ctl/help_pages.ts.tmp lib/ctl/help_pages.ts
	$(DENO) fmt --quiet lib/ctl/help_pages.ts

# deno compile needs the denort runtime of the same version. It is normally downloaded from
# a host the build machines here cannot reach, so it must be handed over in DENORT_BIN.
COMPILE_FLAGS := --frozen --no-check=remote --include $(LIBIJR)
build: $(DENO_DEP) lib
	@if [ -z "$$DENORT_BIN" ] || [ ! -x "$$DENORT_BIN" ]; then \
	  echo "make build: no denort runtime. deno compile needs denort $(DENO_VERSION) for this platform;" >&2; \
	  echo "  download denort-x86_64-unknown-linux-gnu.zip of Deno $(DENO_VERSION) on a connected machine," >&2; \
	  echo "  unzip it, and run: DENORT_BIN=/path/to/denort make build" >&2; exit 1; fi
	@mkdir -p $(DIST)
	$(DENO) compile $(COMPILE_FLAGS) --allow-all \
	  --v8-flags="$$($(DENO) run --quiet lib/daemon/v8_flags.ts)" --output $(DIST)/ijrd daemon.ts
	$(DENO) compile --frozen --no-check=remote --allow-read --allow-write --allow-net --allow-env \
	  --include lib/ctl/run.ts --output $(DIST)/ijrctl ctl.ts

dist: build
	cd $(DIST) && sha256sum ijrd ijrctl > SHA256SUMS && cat SHA256SUMS

demo: $(DENO_DEP) lib
	@bash tests/demo/demo.sh

clean:
	rm -rf $(BUILD) $(DIST) coverage

# --- cgroup v2 lane ------------------------------------------------------------------------
# Boots Debian's stock kernel with a pure cgroup v2 hierarchy under qemu (software emulation)
# and runs tests/v2 inside it as root, from a delegated cgroup. Installs qemu and fetches the
# kernel through apt the first time (root); caches the kernel and the initramfs in build/vm.
# How it works: tests/vm/README.md. TEST_V2_FILTER=<name> runs only matching tests.
VM_DIR := $(BUILD)/vm
TEST_V2_TIMEOUT ?= 270
TEST_V2_ACCEL ?= tcg
TEST_V2_FILTER ?=

.PHONY: test-v2
test-v2: $(DENO_DEP) lib fixtures
	VM_DIR=$(VM_DIR) TEST_V2_TIMEOUT=$(TEST_V2_TIMEOUT) TEST_V2_ACCEL=$(TEST_V2_ACCEL) \
	  TEST_V2_FILTER="$(TEST_V2_FILTER)" bash tests/vm/run_v2.sh

# The same guest running bench/api_speed_bench.ts --only $(BENCH_V2) --rounds $(BENCH_V2_ROUNDS)
# instead of the tests, with bwrap copied from the host (apt package bubblewrap, installed when
# missing): issue 16's start-to-exit next to bwrap on cgroup v2. About 2.5 minutes (emulated).
BENCH_V2 ?= start
BENCH_V2_ROUNDS ?= 25
BENCH_V2_TIMEOUT ?= 900

.PHONY: bench-v2
bench-v2: $(DENO_DEP) lib fixtures
	VM_DIR=$(VM_DIR) TEST_V2_TIMEOUT=$(BENCH_V2_TIMEOUT) TEST_V2_ACCEL=$(TEST_V2_ACCEL) \
	  TEST_V2_BENCH="$(BENCH_V2)" TEST_V2_BENCH_ROUNDS="$(BENCH_V2_ROUNDS)" bash tests/vm/run_v2.sh

# --- Slurm lane ----------------------------------------------------------------------------
# A one-node Slurm cluster (slurmctld, slurmd, munged with a config, key and ports of its own in
# a temporary folder) beside a real ijrd: srun and sbatch run IJR jobs, scancel and a time
# limit stop them. Installs slurm-wlm and munge with apt-get when missing (root). About 100 s,
# most of it waiting for Slurm's one-minute time limit. See docs/scale-out.md.
.PHONY: test-slurm
test-slurm: $(DENO_DEP) lib
	bash tests/slurm/run.sh
