# silent-refresh: the two commands are `make dev` (run) and `make test` (test).
# Every target first runs scripts/setup.sh, which installs what is missing and is quick when
# nothing is.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
ENV := . scripts/env.sh &&
# Every step's wall and CPU time goes to one file per run; scripts/test.sh prints it as a table at
# the end (scripts/timing.sh). Set once per `make` (a recursive make inherits them).
ifndef SILENT_REFRESH_RUN_START
SILENT_REFRESH_RUN_START := $(shell date +%s.%N)
SILENT_REFRESH_TIMINGS := $(CURDIR)/target/timings/run-$(SILENT_REFRESH_RUN_START).tsv
endif
export SILENT_REFRESH_RUN_START SILENT_REFRESH_TIMINGS
TIMED := scripts/timed.sh

RUST_SRC := $(shell find src -name '*.rs' -o -name '*.js') Cargo.toml Cargo.lock .cargo/config.toml
PKG_WASM := pkg/silent_refresh_bg.wasm
WORKER_WASM := build/worker/index_bg.wasm
SITE := build/site/index.html

.PHONY: dev dev-oidc test setup build native-tests bench bench-repeat soak fuzz simulate exhaustive cost clean preflight secrets
.DEFAULT_GOAL := dev

## make dev: set up, build both artifacts (release), serve the demo and the API on http://127.0.0.1:8787
dev: setup build
	@$(ENV) scripts/dev.sh

## make dev-oidc: like make dev, with sign-in through a local OpenID provider (oidc-provider on http://127.0.0.1:9090)
dev-oidc: setup build
	@$(ENV) node scripts/dev-vars.mjs .dev.vars && node scripts/dev-oidc.mjs

## make test: set up, build, then run every test tier (native, browser, Worker HTTP, end-to-end)
test: setup
	@$(MAKE) --no-print-directory build ALSO=native-tests
	@$(ENV) scripts/test.sh

## make bench: side-by-side benchmarks against the usual alternatives; writes docs/BENCHMARKS.md
bench: setup build
	@$(ENV) bench/run.sh

## make bench-repeat: the figures near their targets (auth.fetch, DPoP, start-up), REPEAT times (5); writes docs/BENCHMARKS-REPEATED.md
bench-repeat: setup build
	@$(ENV) bench/repeat.sh

## make soak: 60 s of mixed traffic against the Worker in workerd (zero 5xx, no lost session, stable memory)
soak: setup build
	@$(ENV) scripts/soak.sh

## make simulate: the simulation of many locations (KV and Durable Object modes); prints the table of docs/DESIGN.md
simulate: setup
	@$(ENV) SIM_TRIALS=300 cargo test --test native simulation::table -- --nocapture --exact 2>&1 | sed -n '/seeded runs per cell/,/^test result/p'

## make exhaustive: every interleaving of up to three concurrent requests of one family at up to three locations, both modes (tests/native/exhaustive.rs); prints runs, states, time and what KV mode cannot promise
exhaustive: setup
	@$(ENV) cargo test --test native exhaustive::full -- --ignored --nocapture --exact 2>&1 | sed -n '/^Strict:/,/^test result/p'

## make cost: what login, refresh, logout, logout-all and /api/me cost in KV and Durable Object operations and rows, per store, with and without DPoP, and the monthly bills (the section of docs/BENCHMARKS.md)
cost: setup
	@$(ENV) scripts/cost.sh

## make fuzz: cargo fuzz on the request parsers (JSON, form, cookie, bearer), the refresh-token decoder and base64url
fuzz: setup
	@$(ENV) scripts/fuzz.sh

## make secrets ENV=<name>: writes secrets.<name>.json for `wrangler secret bulk` (new keys; no demo user)
secrets:
	@node scripts/secrets.mjs new "$(if $(filter command line,$(origin ENV)),$(ENV))"

## make preflight ENV=<name>: the step before `wrangler deploy --env <name>`: the Worker's own config validation plus the deploy checks
# (ENV here is the environment's name: this recipe does not use the Makefile's $(ENV) prefix.)
preflight: setup
	@. scripts/env.sh && node scripts/preflight.mjs $(if $(filter command line,$(origin ENV)),--env "$(ENV)") $(if $(SECRETS),--secrets "$(SECRETS)")

setup:
	@scripts/setup.sh

# The package and the Worker at once: each ends in a long single-threaded step (LTO with one
# codegen unit, then wasm-opt), which leaves a core idle that the other build fills. `make test`
# adds the native tier's compile (ALSO=native-tests) to fill it further.
build:
	@$(MAKE) --no-print-directory -j$(if $(ALSO),3,2) --output-sync=line $(PKG_WASM) $(WORKER_WASM) $(ALSO)
	@$(MAKE) --no-print-directory $(SITE)

# The native tier's tests and the preflight binary, compiled beside the builds at low priority
# (nice: the Worker's build, the longest, goes first), so that the native tier then only runs
# them. Never fails: a compile error is the native tier's to report, with the other tiers run.
native-tests:
	@mkdir -p target/test-logs && $(ENV) $(TIMED) "build: native tests (nice)" bash -c 'nice -n 10 cargo test --no-run --quiet && nice -n 10 cargo build --quiet --features preflight --bin preflight' \
	  >target/test-logs/native-build.log 2>&1 || echo "[build] native tests did not compile here (target/test-logs/native-build.log); the native tier shows why"

# The npm package: cargo and wasm-bindgen, then wasm-opt -Oz, then the gzip budget check (17,400 B: below the smallest JS client measured).
$(PKG_WASM) pkg/silent_refresh.js: $(RUST_SRC) scripts/build-browser.sh scripts/package-npm.mjs $(wildcard npm/*) LICENSE-MIT LICENSE-APACHE
	@$(ENV) $(TIMED) "build: package" scripts/build-browser.sh

# The Worker: cargo and wasm-bindgen, then our entry module (src/worker/entry.js) bundled with
# wasm-bindgen's glue by esbuild, then wasm-opt -O3.
$(WORKER_WASM): $(RUST_SRC) scripts/build-worker.sh scripts/bundle-worker.mjs
	@$(ENV) $(TIMED) "build: Worker" scripts/build-worker.sh

# The static assets the Worker serves: www/ plus the package under /pkg/.
$(SITE): $(PKG_WASM) $(shell find www -type f)
	@rm -rf build/site && mkdir -p build/site && cp -r www/. build/site/ && \
	  mkdir -p build/site/pkg && cp pkg/*.js pkg/*.mjs pkg/*.wasm pkg/*.d.ts build/site/pkg/

clean:
	rm -rf target build pkg .wrangler
