# kiln: build, test, demo, bench, install.
# Every target first installs the Debian packages it needs when they are missing (as
# root), or says in one line which to install.

SWIFT ?= swift
PREFIX ?= /usr/local
BIN_DEBUG := .build/debug/kiln
BIN_RELEASE := .build/release/kiln
DEPS_BUILD := libxxhash-dev libsqlite3-dev libyaml-dev
# The demo compiles C and makes git workspaces. What the tests need on top, and for what:
#   procps        pgrep: no child of a task outlives kiln (ProcessTeardownTests, ...)
#   python3-yaml  PyYAML: the YAML parser's differential test (YAMLParserTests)
#   chromium      renders and screenshots `kiln stats --html` (HTMLReportTests)
#   ninja-build   the real ninja, beside `kiln ninja` (NinjaDropInTests)
#   cmake meson   configure fixtures/cmake-project and fixtures/meson-project into the
#                 build.ninja files that ninja and `kiln ninja` build side by side
#                 (NinjaCMakeTests, NinjaMesonTests)
#   make          the launcher's Makefile and CMake (Unix Makefiles) projects
#                 (LauncherTests, LauncherCMakeTests); clang for LauncherStatsAndRaceTests
#                 is the Swift toolchain's, on PATH with swift
#   promtool      lints `kiln stats --prometheus` (PrometheusTests): not installed but
#                 extracted from the Debian package prometheus into $(TEST_TOOLS) (see
#                 $(PROMTOOL) below), since installing that package enables and starts the
#                 Prometheus server and pulls in node-exporter and smartmontools.
DEPS_DEMO := $(DEPS_BUILD) gcc binutils git
DEPS_TEST := $(DEPS_DEMO) procps python3-yaml chromium ninja-build cmake meson make
TEST_TOOLS ?= $(CURDIR)/.build/test-tools
PROMTOOL := $(TEST_TOOLS)/promtool
DEPS_BENCH := $(DEPS_BUILD) gcc binutils make git python3 ninja-build ccache xxhash time pre-commit cmake

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

# One fully static executable (the Swift runtime, libstdc++, glibc, libxxhash, libsqlite3
# and libyaml linked in): no dynamic loader at all at start. Before, with the Swift
# runtime static but seven shared libraries: a null build of the demo 24 ms -> 15 ms;
# then the loader was still a third of a launcher call's CPU, and a cache hit through
# `kiln gcc` took 5.7 ms against 4.0 ms fully static (ccache: 3.6 ms, same run).
# kiln itself calls no NSS lookup (getpwnam, getaddrinfo) and no dlopen, which static
# glibc serves only with the shared libraries of the glibc it was linked with. The
# linker's warnings name code kiln does not reach: FoundationEssentials' getpwuid_r and
# getgrgid_r (through swift-argument-parser), SQLite's load_extension, and the Swift
# runtime's optional look for a prespecialization library (absent: it goes on).
release: deps-build
	$(SWIFT) build -c release --static-swift-stdlib -Xswiftc -static-executable

# promtool alone: `apt-get download` fetches the package file (no install, no maintainer
# scripts, no service) and `dpkg -x` unpacks it into a scratch folder; only the binary
# is kept. It needs libc only.
$(PROMTOOL):
	@mkdir -p $(TEST_TOOLS)
	@scratch=$$(mktemp -d) && cd $$scratch && \
	if ! apt-get download -qq prometheus >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq >/dev/null && apt-get download -qq prometheus >/dev/null || exit 1; \
	  else echo "kiln's tests need promtool: apt-get download prometheus failed (run apt-get update as root)"; exit 1; fi; \
	fi && \
	dpkg -x prometheus_*.deb root && cp root/usr/bin/promtool $(PROMTOOL).tmp && mv $(PROMTOOL).tmp $(PROMTOOL) && \
	cd / && rm -rf $$scratch && echo "extracted promtool into $(TEST_TOOLS)"

# The suite runs with HOME (and the XDG folders) pointed at an empty temporary folder,
# and fails if kiln made a cache there: every process a test starts must get a home of
# its own from TestEnvironment (Tests/KilnIntegrationTests/HermeticTests.swift), so a
# kiln cache under the runner's HOME means a test leaked onto the real HOME.
test: deps-test $(PROMTOOL)
	$(SWIFT) build --build-tests
	@home=$$(mktemp -d /tmp/kiln-test-home.XXXXXX); \
	env -u KILN_CACHE_DIR -u KILN_REMOTE_CACHE -u KILN_WORKSPACE HOME=$$home XDG_CACHE_HOME=$$home/.cache \
	  XDG_CONFIG_HOME=$$home/.config XDG_DATA_HOME=$$home/.local/share XDG_STATE_HOME=$$home/.local/state \
	  KILN_BIN=$(CURDIR)/$(BIN_DEBUG) KILN_PROMTOOL=$(PROMTOOL) $(SWIFT) test --skip-build; status=$$?; \
	if [ -e $$home/.cache/kiln ]; then \
	  echo "make test: a test ran kiln with the runner's HOME ($$home/.cache/kiln exists): give it TestEnvironment"; status=1; \
	fi; \
	rm -rf $$home; exit $$status

demo: deps-demo release
	@sh fixtures/demo-run.sh $(CURDIR)/$(BIN_RELEASE)

# The benchmark of issue 4 (bench/bench.py): kiln beside ninja, ninja+ccache and make.
# Writes docs/benchmarks.md (above its marker line) and bench/out/results.json.
# bench: every scenario at full size (~30 min on 2 cores, the cmake group ~9 of them, the
# launcher group ~5-8; much longer when the machine is shared); bench-quick: a few minutes.
# The launcher group fetches Lua's sources once (apt-get source --download-only lua5.4,
# a deb-src line needed) into bench/out/sources/, and skips Lua with one line without them.
bench: deps-bench release
	@sh bench/run.sh $(CURDIR)/$(BIN_RELEASE)

bench-quick: deps-bench release
	@sh bench/quick.sh $(CURDIR)/$(BIN_RELEASE)

# kiln-ninja: kiln under ninja's name, for -DCMAKE_MAKE_PROGRAM and Meson's NINJA.
install: release
	install -d $(PREFIX)/bin
	install -m 755 $(BIN_RELEASE) $(PREFIX)/bin/kiln
	ln -sf kiln $(PREFIX)/bin/kiln-ninja

clean:
	rm -rf .build
