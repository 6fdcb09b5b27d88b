# `make test` is what CI runs (through .ci/run).

GO           ?= go
GOFMT        ?= $(shell $(GO) env GOROOT)/bin/gofmt
BUF          := $(GO) run github.com/bufbuild/buf/cmd/buf@v1.50.0
TEST_TIMEOUT ?= 15m

# Hand-written Go files. Generated protobuf and Twirp code stays exactly as
# the generators emit it, so it is not held to gofmt.
GOFILES = $(shell find . -name '*.go' -not -name '*.pb.go' -not -name '*.twirp.go' \
	-not -path './.git/*' -not -path './bin/*')

.PHONY: build test fmt-check vet proto run fmt clean

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

fmt:
	$(GOFMT) -w $(GOFILES)

# Removes build output only; ./wharf-data holds queue data and is left alone.
clean:
	rm -rf bin
