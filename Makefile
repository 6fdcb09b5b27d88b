# `make test` is what CI runs (through .ci/run).

GO           ?= go
GOFMT        ?= $(shell $(GO) env GOROOT)/bin/gofmt
BUF          := $(GO) run github.com/bufbuild/buf/cmd/buf@v1.50.0
TEST_TIMEOUT ?= 15m

# Hand-written Go files. Generated protobuf and Twirp code stays exactly as
# the generators emit it, so it is not held to gofmt.
GOFILES = $(shell find . -name '*.go' -not -name '*.pb.go' -not -name '*.twirp.go' \
	-not -path './.git/*' -not -path './bin/*')

.PHONY: build test fmt-check vet proto run cluster fmt clean

build:
	$(GO) build -o bin/ ./cmd/...

test: fmt-check vet
	$(GO) test -timeout $(TEST_TIMEOUT) ./...

fmt-check:
	@out="$$($(GOFMT) -l $(GOFILES))"; \
	if [ -n "$$out" ]; then echo "gofmt needed (run make fmt):"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# Lints the .proto files, then regenerates the Go code next to them.
proto:
	cd proto && $(BUF) lint && $(BUF) generate

# Single-node server, data in ./wharf-data. Pass flags with ARGS="...".
run:
	$(GO) run ./cmd/wharfd $(ARGS)

# A 3-node cluster on 127.0.0.1, in the foreground; Ctrl-C stops all three.
# Node N serves the API on 127.0.0.1:70N0 and Raft on 127.0.0.1:70N1
# (N = 7, 8, 9 for nodes 1, 2, 3); data in ./wharf-cluster/nodeN.
CLUSTER_MEMBERS = 1=127.0.0.1:7071,2=127.0.0.1:7081,3=127.0.0.1:7091
cluster: build
	@mkdir -p wharf-cluster
	@trap 'kill 0' INT TERM; \
	for i in 1 2 3; do \
		p=$$((7060 + 10 * i)); \
		bin/wharfd --node-id $$i --data-dir wharf-cluster/node$$i \
			--api-addr 127.0.0.1:$$p --raft-addr 127.0.0.1:$$((p + 1)) \
			--initial-members $(CLUSTER_MEMBERS) 2>&1 | sed -u "s/^/node$$i: /" & \
	done; \
	wait

fmt:
	$(GOFMT) -w $(GOFILES)

# Removes build output only; ./wharf-data holds queue data and is left alone.
clean:
	rm -rf bin
