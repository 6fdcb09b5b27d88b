package core

// The SQS limits and defaults Wharf enforces. Every one is an explicit bound.
const (
	KiB = 1 << 10
	MiB = 1 << 20

	DefaultMaximumMessageBytes = 256 * KiB
	MinMaximumMessageBytes     = 1 * KiB
	MaxMaximumMessageBytes     = 1 * MiB

	DefaultVisibilityTimeoutSeconds = 30
	MaxVisibilityTimeoutSeconds     = 12 * 60 * 60

	DefaultMessageRetentionSeconds = 4 * 24 * 60 * 60
	MinMessageRetentionSeconds     = 60
	MaxMessageRetentionSeconds     = 14 * 24 * 60 * 60

	MaxDelaySeconds       = 900
	MaxWaitTimeSeconds    = 20
	MaxReceiveMessages    = 10
	MaxBatchEntries       = 10
	MaxMessageAttributes  = 10
	MaxQueueNameLength    = 80
	MaxGroupIDLength      = 128
	MaxDedupIDLength      = 128
	MaxAttemptIDLength    = 128
	MaxBatchEntryIDLength = 80
	MaxAttributeNameLen   = 256
	MinMaxReceiveCount    = 1
	MaxMaxReceiveCount    = 1000
	MaxListQueuesResults  = 1000

	// DedupWindowMillis is how long FIFO deduplication ids and receive
	// request attempt ids are remembered.
	DedupWindowMillis = 5 * 60 * 1000

	// MaxInFlightStandard and MaxInFlightFIFO bound the messages a
	// partition may hold in flight, as SQS does (120,000 and 20,000).
	MaxInFlightStandard = 120000
	MaxInFlightFIFO     = 20000

	// MaxQueues bounds the queues a cluster holds.
	MaxQueues = 100000

	// MaxPartitions bounds the partitions a queue is created with (1 when
	// unset). Each partition lives on one queue shard.
	MaxPartitions = 64
)
