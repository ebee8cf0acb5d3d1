# ptrule — see README.md. Everything here fetches what it needs through the
# Go module proxy; nothing else is assumed beyond Go itself.

GO          ?= go
BIN         := .build/ptrule
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Each fuzz target runs this many inputs in `make test`; `make fuzz` runs two minutes each.
#
# A count of executions, not a duration: Go 1.26's fuzz coordinator can
# fail a target with a bare "context deadline exceeded" when a duration
# runs out while a worker is busy (golang/go#75804, fixed in Go 1.27),
# which made CI fail on no input at all. A count has no deadline to race.
FUZZTIME    ?= 5000x
# One fuzz target a line, as package:Function.
FUZZ_TARGETS :=
FUZZ_TARGETS += ./engine:FuzzControlledOutput
FUZZ_TARGETS += ./engine:FuzzMaskSecret
FUZZ_TARGETS += ./engine:FuzzParseIgnore
FUZZ_TARGETS += ./engine:FuzzIgnoreAnnotation
FUZZ_TARGETS += ./engine:FuzzIgnoreLine
FUZZ_TARGETS += ./engine:FuzzSnapshotStringRoundTrip
FUZZ_TARGETS += ./engine:FuzzLoadRules
FUZZ_TARGETS += ./engine:FuzzRunFixtures
FUZZ_TARGETS += ./engine:FuzzTruncate
FUZZ_TARGETS += ./engine:FuzzExprNeeds
FUZZ_TARGETS += ./engine:FuzzFastParse
FUZZ_TARGETS += ./engine:FuzzIsInterpreter
FUZZ_TARGETS += ./builtin/proc:FuzzParsePidStat
FUZZ_TARGETS += ./builtin/proc:FuzzParseNetLine
FUZZ_TARGETS += ./builtin/proc:FuzzParseSockDiag
FUZZ_TARGETS += ./builtin/proc:FuzzParseCgroup
FUZZ_TARGETS += ./builtin/proc:FuzzAppendDirentNumbers
FUZZ_TARGETS += ./builtin/proc:FuzzHostFiles
FUZZ_TARGETS += ./builtin/collect:FuzzSocketOf
FUZZ_TARGETS += ./builtin/attach:FuzzEnrichSocketOf
FUZZ_TARGETS += ./builtin/state:FuzzParseState
FUZZ_TARGETS += ./builtin/csf:FuzzConvert
FUZZ_TARGETS += ./builtin/csf:FuzzConvertIgnore
FUZZ_TARGETS += ./notify:FuzzParseChannel
FUZZ_TARGETS += ./notify:FuzzEscapeLimit
FUZZ_TARGETS += ./notify:FuzzRenderTelegram
FUZZ_TARGETS += ./notify:FuzzParseRetryAfter
FUZZ_TARGETS += ./notify:FuzzEmailMessage
FUZZ_TARGETS += ./notify:FuzzAlertmanagerLabels
FUZZ_TARGETS += ./notify:FuzzRedact

.PHONY: build run test fmt-check tidy-check vet staticcheck alertmanager-deps unit rules-check fuzz-short fuzz bench bench-growth install clean

build:
	$(GO) build -o $(BIN) ./cmd/ptrule

# One dry-run scan of this machine with the built-in rules: findings are
# printed, nothing is sent, killed or run.
run: build
	$(BIN) scan

test: fmt-check tidy-check vet staticcheck alertmanager-deps unit rules-check fuzz-short

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

tidy-check:
	$(GO) mod tidy -diff

vet:
	$(GO) vet ./...

staticcheck:
	$(GO) run $(STATICCHECK) ./...

# The alertmanager channel's test runs a real Alertmanager: Debian's
# prometheus-alertmanager, installed here when missing and when run as
# root (as CI is); otherwise that one test skips and says why.
alertmanager-deps:
	@command -v prometheus-alertmanager >/dev/null || \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus-alertmanager; \
	else \
		echo "prometheus-alertmanager is missing and this is not root on Debian: TestAlertmanagerLive will skip"; \
	fi

unit:
	$(GO) test -race -count=1 ./...

# rules-check names its own config, so that the machine's /etc/ptrule
# cannot change the result.
rules-check: build
	printf 'rules_dirs: []\nstate_dir: .build/state\n' > .build/rules-check.yaml
	$(BIN) check --config .build/rules-check.yaml --no-builtin --rules rules.d
	$(BIN) test --config .build/rules-check.yaml rules.d

fuzz-short:
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		echo "fuzz $$fn ($(FUZZTIME))"; \
		$(GO) test -run='^$$' -fuzz="^$$fn\$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	done

fuzz:
	$(MAKE) fuzz-short FUZZTIME=2m

# The Go benchmarks, then ps against ptrule side by side on a population of
# 2,000 processes that cmd/ptrule-bench starts and reaps itself (as root;
# it says so and skips otherwise). BENCHMARKS.md records the figures.
# SIDE_BY_SIDE passes options to the driver (see `go run ./cmd/ptrule-bench -h`).
SIDE_BY_SIDE ?=
bench: build
	$(GO) test -run='^$$' -bench=. -benchmem ./...
	$(GO) run ./cmd/ptrule-bench -ptrule $(BIN) -out .build/sidebyside.md $(SIDE_BY_SIDE)

# How the costs grow with the number of processes: the side-by-side
# measures at 1,000, 2,000, 5,000 and 10,000 processes (about 12 minutes).
bench-growth: build
	$(GO) run ./cmd/ptrule-bench -ptrule $(BIN) -procs 1000,2000,5000,10000 -reps 3 -out .build/growth.md $(SIDE_BY_SIDE)

# Installs the daemon as README.md describes; DESTDIR for packaging. An
# existing /etc/ptrule/ptrule.yaml is never overwritten.
PREFIX ?= /usr/local
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/sbin/ptrule
	install -d -m 0755 $(DESTDIR)/etc/ptrule/rules.d
	test -e $(DESTDIR)/etc/ptrule/ptrule.yaml || install -m 0644 cmd/ptrule/dist/ptrule.yaml $(DESTDIR)/etc/ptrule/ptrule.yaml
	install -D -m 0644 cmd/ptrule/dist/ptrule.service $(DESTDIR)/etc/systemd/system/ptrule.service
	install -d -m 0700 $(DESTDIR)/var/lib/ptrule
	install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/ptrule/README.md

clean:
	rm -rf .build
