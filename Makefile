# kiln: build, test, demo, bench, install.
# Every target first installs the Debian packages it needs when they are missing (as
# root), or says in one line which to install.

SWIFT ?= swift
PREFIX ?= /usr/local
BIN_DEBUG := .build/debug/kiln
BIN_RELEASE := .build/release/kiln
DEPS_BUILD := libxxhash-dev libsqlite3-dev
# The demo compiles C and makes git workspaces; the tests also need PyYAML (the YAML
# parser's differential test), promtool (stats --prometheus) and Chromium (stats --html).
DEPS_DEMO := $(DEPS_BUILD) gcc binutils git
DEPS_TEST := $(DEPS_DEMO) procps python3-yaml prometheus chromium
DEPS_BENCH := $(DEPS_BUILD) gcc binutils make git python3 ninja-build ccache xxhash time pre-commit

.PHONY: build release test demo bench bench-quick install deps-build deps-demo deps-test deps-bench clean

# Installs the Debian packages named in $(1) that are not installed yet.
define need
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing:$$missing"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) >/dev/null || exit 1; \
	  else echo "kiln needs these Debian packages: sudo apt-get install -y$$missing"; exit 1; fi; \
	fi
endef

deps-build:
	$(call need,$(DEPS_BUILD))
deps-demo:
	$(call need,$(DEPS_DEMO))
deps-test:
	$(call need,$(DEPS_TEST))
deps-bench:
	$(call need,$(DEPS_BENCH))

build: deps-build
	$(SWIFT) build

# The Swift runtime and Foundation linked in statically: no dynamic loading of a dozen
# shared libraries at every start (a null build of the demo: 24 ms -> 15 ms).
release: deps-build
	$(SWIFT) build -c release --static-swift-stdlib -Xlinker -no-pie

test: deps-test
	$(SWIFT) build --build-tests
	KILN_BIN=$(CURDIR)/$(BIN_DEBUG) $(SWIFT) test --skip-build

demo: deps-demo release
	@sh fixtures/demo-run.sh $(CURDIR)/$(BIN_RELEASE)

# The benchmark of issue 4 (bench/bench.py): kiln beside ninja, ninja+ccache and make.
# Writes docs/benchmarks.md (above its marker line) and bench/out/results.json.
# bench: every scenario at full size (~15-20 min on 2 cores); bench-quick: a few minutes.
bench: deps-bench release
	@sh bench/run.sh $(CURDIR)/$(BIN_RELEASE)

bench-quick: deps-bench release
	@sh bench/quick.sh $(CURDIR)/$(BIN_RELEASE)

install: release
	install -d $(PREFIX)/bin
	install -m 755 $(BIN_RELEASE) $(PREFIX)/bin/kiln

clean:
	rm -rf .build
