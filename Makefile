# detkd: two entry points, `make demo` and `make test`. Each installs what is missing first
# (Debian packages, npm packages, the native addon, the TypeScript build) and skips what is there.
# Every phase prints how long it took.

SHELL := /bin/bash
APT_PACKAGES := libtorch-dev libopenblas0-pthread g++ make python3
NODE ?= node
STAMPS := .make-stamps
ADDON := native/build/Release/detkd_native.node
NATIVE_SRC := $(wildcard native/*.cc native/*.h native/*.inc) native/binding.gyp scripts/build-native.mjs

.PHONY: all deps apt npm native build demo test lint typecheck unit clean

all: build

# Prints "[phase] took Ns" around a command.
define timed
	@start=$$(date +%s); echo "[$(1)] ..."; $(2); rc=$$?; \
	echo "[$(1)] took $$(( $$(date +%s) - start ))s"; exit $$rc
endef

apt:
	@start=$$(date +%s); missing=""; \
	for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "[apt] installing:$$missing"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	  echo "[apt] took $$(( $$(date +%s) - start ))s"; \
	else echo "[apt] all present ($(APT_PACKAGES))"; fi

$(STAMPS)/npm: package.json package-lock.json
	@mkdir -p $(STAMPS)
	$(call timed,npm ci,npm ci --no-audit --no-fund --loglevel=error)
	@touch $@

npm: apt $(STAMPS)/npm

$(ADDON): $(NATIVE_SRC) $(STAMPS)/npm
	$(call timed,native build,$(NODE) scripts/build-native.mjs)

native: npm $(ADDON)

$(STAMPS)/build: $(ADDON) $(shell find src recipes -name '*.ts' 2>/dev/null) tsconfig.json tsconfig.build.json
	$(call timed,tsc build,npx tsc -p tsconfig.build.json)
	@touch $@

build: native $(STAMPS)/build

typecheck: npm
	$(call timed,typecheck,npx tsc --noEmit -p tsconfig.json)

lint: npm
	$(call timed,lint,npx biome check .)

unit: build
	$(call timed,tests,$(NODE) scripts/run-tests.mjs)

test: build typecheck lint unit

demo: build
	$(call timed,demo,$(NODE) bin/detkd.js demo)

clean:
	rm -rf native/build dist $(STAMPS)
