# `make test` is what CI runs (through .ci/run).

GO           ?= go
GOFMT        ?= $(shell $(GO) env GOROOT)/bin/gofmt
BUF          := $(GO) run github.com/bufbuild/buf/cmd/buf@v1.50.0
TEST_TIMEOUT ?= 15m

# Hand-written Go files. Generated protobuf and Twirp code stays exactly as
# the generators emit it, so it is not held to gofmt.
GOFILES = $(shell find . -name '*.go' -not -name '*.pb.go' -not -name '*.twirp.go' \
	-not -path './.git/*' -not -path './bin/*')

.PHONY: build test fmt-check vet proto run cluster certs fmt clean failpoints-enable failpoints-disable test-mutants-unit sim sim-mutants mutant-tree

build:
	$(GO) build -o bin/ ./cmd/...

test: fmt-check vet
	$(GO) test -timeout $(TEST_TIMEOUT) ./...

fmt-check:
	@out="$$($(GOFMT) -l $(GOFILES))"; \
	if [ -n "$$out" ]; then echo "gofmt needed (run make fmt):"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Native Go fuzz targets of the decoders that read untrusted or on-disk
# bytes, as package:Target. `make test` runs each one's seeds (f.Add and
# testdata/fuzz/<Target>/); `make fuzz` fuzzes each for FUZZTIME in turn
# (FUZZ=Target[,Target] picks some). A failing input lands in the
# package's testdata/fuzz/<Target>/: fix the decoder, keep the file.
# FUZZMINIMIZETIME bounds the minimizing of each new input (Go's default,
# 60s, stalls the targets whose inputs are whole snapshots).
FUZZTIME         ?= 30s
FUZZMINIMIZETIME ?= 5s
FUZZ             ?=
FUZZ_TARGETS = \
	./core/node:FuzzDecodeHandle \
	./core/queue:FuzzStoredRecord \
	./core/shard:FuzzQueueApply \
	./core/shard:FuzzQueueSnapshot \
	./core/shard:FuzzMetaApply \
	./core/shard:FuzzMetaSnapshot \
	./core/shard:FuzzShardQuery \
	./transport/raftnet:FuzzServe \
	./transport/peerlink:FuzzHelloAccept \
	./transport/sigv4:FuzzVerify \
	./transport/sigv4:FuzzSignVerify \
	./transport/twirpapi:FuzzQueueServiceRequest
.PHONY: fuzz
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		case ",$(FUZZ)," in ,,|*,$$name,*) ;; *) continue ;; esac; \
		echo "== $$name ($$pkg), $(FUZZTIME)"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME); \
	done

# Planted bugs (core/mutants). failpoints-enable rewrites the failpoint
# markers under core/ into live checks (the originals are stashed next to
# them as *__failpoint_stash__, which .gitignore keeps out of commits);
# failpoints-disable restores them. Never commit a rewritten tree.
FAILPOINT_VERSION := v0.0.0-20240528011301-b51a646c7c86
FAILPOINT_CTL     := $(GO) run github.com/pingcap/failpoint/failpoint-ctl@$(FAILPOINT_VERSION)
FAILPOINT_DIRS    := core

failpoints-enable:
	$(FAILPOINT_CTL) enable $(FAILPOINT_DIRS)

failpoints-disable:
	$(FAILPOINT_CTL) disable $(FAILPOINT_DIRS)

# The planted-bug targets work on a copy of the tree (MUTANT_TREE), which
# failpoint-ctl rewrites: the checkout itself is never rewritten, so nothing
# rewritten can be committed and other work in the checkout goes on.
MUTANT_TREE ?= $(or $(TMPDIR),/tmp)/wharf-mutant-tree
mutant-tree:
	@rm -rf $(MUTANT_TREE) && mkdir -p $(MUTANT_TREE)
	@git ls-files -z --cached --others --exclude-standard | xargs -0 cp --parents -t $(MUTANT_TREE)
	@cd $(MUTANT_TREE) && $(FAILPOINT_CTL) enable $(FAILPOINT_DIRS)
	@echo "planted bugs live in $(MUTANT_TREE)"

# Shows every planted bug of core/ observable in a unit test.
test-mutants-unit: mutant-tree
	cd $(MUTANT_TREE) && $(GO) test -count=1 -timeout $(TEST_TIMEOUT) -run Mutant -v ./core/...

# Proves the simulator catches every planted bug: for each, seeds 1, 2, ...
# with the bug enabled until one fails (at most MUTANT_SEEDS); prints which
# seed caught it after how many runs. MUTANTS=name[,name] picks some;
# MUTANTS=name SEED=n replays one seed with that bug.
MUTANTS         ?= all
MUTANT_SEEDS    ?= 30
MUTANT_DURATION ?= 10s
sim-mutants: mutant-tree
ifeq ($(SEED),)
	cd $(MUTANT_TREE) && $(GO) test ./sim -count=1 -timeout 0 -v -run '^TestSimMutants$$' \
		-sim.mutants=$(MUTANTS) -sim.mutant-seeds=$(MUTANT_SEEDS) -sim.duration=$(MUTANT_DURATION)
else
	cd $(MUTANT_TREE) && $(GO) test ./sim -count=1 -timeout 0 -v -run '^TestSim$$' \
		-sim.seed=$(SEED) -sim.mutant=$(MUTANTS) -sim.duration=$(MUTANT_DURATION)
endif

# Jepsen-style test (jepsen/README.md): real wharfd processes on 127.0.0.1
# behind TCP proxies the harness controls, clients over the Twirp API, mixed
# nemeses, then heal, drain and check; history, verdict and plots go to
# jepsen/results/<timestamp>. The JEPSEN_* variables set the main flags,
# JEPSEN_ARGS adds any (go run ./jepsen/cmd/wharf-jepsen -h lists them).
.PHONY: jepsen jepsen-mutants
JEPSEN_NODES    ?= 5
JEPSEN_TIME     ?= 4m
JEPSEN_RATE     ?= 40
JEPSEN_NEMESIS  ?= all
JEPSEN_WORKLOAD ?= all
JEPSEN_ARGS     ?=
jepsen:
	$(GO) run ./jepsen/cmd/wharf-jepsen -nodes $(JEPSEN_NODES) -time-limit $(JEPSEN_TIME) -rate $(JEPSEN_RATE) \
		-nemesis $(JEPSEN_NEMESIS) -workload $(JEPSEN_WORKLOAD) $(JEPSEN_ARGS)

# The Jepsen test against each planted bug in turn (MUTANTS, default all):
# wharfd built from a rewritten copy of the tree (mutant-tree), the bug
# switched on per process through GO_FAILPOINTS; prints which were caught.
# Nodes snapshot every 50 entries, so restarts go through snapshots.
JEPSEN_MUTANT_TREE ?= $(or $(TMPDIR),/tmp)/wharf-jepsen-mutant-tree
JEPSEN_MUTANT_ARGS ?= -nodes 3 -time-limit 40s -rate 40 -hold 2s -quiet 1s -wharfd-args '--snapshot-entries 50' \
	-nemesis kill-one,kill-leader,pause,partition-isolate,partition-oneway,clock-skew
jepsen-mutants:
	@$(MAKE) --no-print-directory mutant-tree MUTANT_TREE=$(JEPSEN_MUTANT_TREE)
	cd $(JEPSEN_MUTANT_TREE) && $(GO) build -o $(JEPSEN_MUTANT_TREE)/wharfd-failpoints ./cmd/wharfd
	$(GO) run ./jepsen/cmd/wharf-jepsen -mutants $(MUTANTS) -bin $(JEPSEN_MUTANT_TREE)/wharfd-failpoints \
		-results jepsen/results/mutants-$$(date +%Y%m%d-%H%M%S) $(JEPSEN_MUTANT_ARGS) $(JEPSEN_ARGS)

# Randomized fault runs of a simulated 3-node cluster in virtual time
# (sim/), each seed in its own process, on all cores: SEEDS random seeds of
# DURATION virtual time each; SEED=<n> replays one seed (in this process).
# Prints seeds run, simulated time and speed, faults by kind, anomalies
# and a replay line per failed seed; a failed seed's history and porcupine
# pages go to $$WHARF_SIM_OUT (default: wharf-sim under the temp dir).
# make test runs the fixed seeds and sim/regressions.txt through TestSim.
SEEDS    ?= 20
DURATION ?= 30s
SEED     ?=
sim:
	$(GO) test ./sim -count=1 -timeout 0 -v -run '^TestSim$$' \
		-sim.seeds=$(SEEDS) -sim.duration=$(DURATION) $(if $(SEED),-sim.seed=$(SEED))

# Lints the .proto files, then regenerates the Go code next to them.
proto:
	cd proto && $(BUF) lint && $(BUF) generate

# Single-node server, data in ./wharf-data. Pass flags with ARGS="...".
run:
	$(GO) run ./cmd/wharfd $(ARGS)

# A 3-node cluster on 127.0.0.1, in the foreground; Ctrl-C stops all three.
# Node N serves the API on 127.0.0.1:70N0 and Raft on 127.0.0.1:70N1
# (N = 7, 8, 9 for nodes 1, 2, 3); data in ./wharf-cluster/nodeN. The nodes
# share the cluster key wharf-cluster/certs/cluster.key (node-to-node
# authentication without TLS). TLS=1 also serves the API over HTTPS and
# runs node-to-node mutual TLS, with the certificates of `make certs`
# (made on the first run); it prints the WHARF_ENDPOINT and WHARF_CA lines
# to export for the CLI.
CLUSTER_MEMBERS = 1=127.0.0.1:7071,2=127.0.0.1:7081,3=127.0.0.1:7091
CLUSTER_CERTS   = wharf-cluster/certs
CLUSTER_HOSTS   = 127.0.0.1,localhost
TLS            ?=
cluster: build
	@mkdir -p wharf-cluster
	@c=$(CLUSTER_CERTS); [ -f $$c/cluster.key ] && [ -f $$c/node1.crt ] && [ -f $$c/node2.crt ] && [ -f $$c/node3.crt ] || \
		bin/wharf certs --dir $$c --hosts $(CLUSTER_HOSTS) node1 node2 node3 >/dev/null
	@trap 'kill 0' INT TERM; \
	c=$(CLUSTER_CERTS); scheme=http; \
	for i in 1 2 3; do \
		p=$$((7060 + 10 * i)); \
		tls=""; \
		if [ -n "$(TLS)" ]; then \
			scheme=https; \
			tls="--tls-cert $$c/node$$i.crt --tls-key $$c/node$$i.key --peer-ca $$c/ca.crt --peer-cert $$c/node$$i.crt --peer-key $$c/node$$i.key"; \
		fi; \
		bin/wharfd --node-id $$i --data-dir wharf-cluster/node$$i \
			--api-addr 127.0.0.1:$$p --raft-addr 127.0.0.1:$$((p + 1)) \
			--initial-members $(CLUSTER_MEMBERS) --cluster-key-file $$c/cluster.key $$tls \
			2>&1 | sed -u "s/^/node$$i: /" & \
	done; \
	if [ -n "$(TLS)" ]; then echo "cluster: TLS on; the CA is $(CURDIR)/$(CLUSTER_CERTS)/ca.crt"; fi; \
	echo "cluster: for the CLI (and curl --cacert \$$WHARF_CA with TLS):"; \
	echo "  export WHARF_ENDPOINT=$$scheme://127.0.0.1:7070,$$scheme://127.0.0.1:7080,$$scheme://127.0.0.1:7090"; \
	if [ -n "$(TLS)" ]; then echo "  export WHARF_CA=$(CURDIR)/$(CLUSTER_CERTS)/ca.crt"; fi; \
	wait

# The CA (kept if there is one), node1-3 certificates for 127.0.0.1 and
# localhost (each run issues new ones; SIGHUP makes running nodes load
# them) and the cluster key (kept) of `make cluster`, in wharf-cluster/certs.
certs: build
	bin/wharf certs --dir $(CLUSTER_CERTS) --hosts $(CLUSTER_HOSTS) node1 node2 node3

fmt:
	$(GOFMT) -w $(GOFILES)

# Removes build output only; ./wharf-data holds queue data and is left alone.
clean:
	rm -rf bin

# Benchmarks (bench/). `make bench` runs Wharf alone on a 3-node cluster the
# bench starts itself (a few minutes); `make bench-compare` runs the same
# workloads against NATS JetStream and RabbitMQ quorum queues too (after
# `make bench-peers`, which installs them from Debian's packages and stops
# the services apt starts: the bench runs its own 3-node clusters of each).
# BENCH_ARGS adds flags (see bench/README.md); results go to BENCH_OUT.
BENCH_OUT  ?= bench-results
.PHONY: bench bench-compare bench-peers
BENCH_ARGS ?=
bench:
	$(GO) run ./bench/cmd/wharf-bench suite --out $(BENCH_OUT)/wharf $(BENCH_ARGS)

# bin/ comes first on PATH: bench-peers puts a nats-server there that can
# fsync before it acknowledges (Debian's 2.9 cannot).
bench-compare:
	PATH="$(CURDIR)/bin:$$PATH" $(GO) run ./bench/cmd/wharf-bench suite --peers nats,rabbitmq --out $(BENCH_OUT)/compare $(BENCH_ARGS)

# NATS_VERSION is built from the Go module proxy into bin/: sync_interval
# (fsync before every acknowledgement) appeared in nats-server 2.10.
NATS_VERSION ?= v2.12.15
bench-peers:
	GOBIN="$(CURDIR)/bin" $(GO) install github.com/nats-io/nats-server/v2@$(NATS_VERSION)
	apt-cache policy nats-server rabbitmq-server
	DEBIAN_FRONTEND=noninteractive apt-get install -y nats-server rabbitmq-server
	-service rabbitmq-server stop
	-service nats-server stop
	-systemctl disable --now rabbitmq-server nats-server 2>/dev/null
	bin/nats-server --version
	dpkg-query -W nats-server rabbitmq-server erlang-base
