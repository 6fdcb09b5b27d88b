package linearizability

// CheckFIFO checks the FIFO queues of h against the FIFO model, one
// porcupine partition per queue and message group:
//   - strict order: a receive delivers a group's messages from its head, in
//     send order; redelivering the head is allowed, skipping it is not;
//   - one batch in flight: while any message of the group is leased
//     (receive log time + visibility timeout, from the responses), nothing
//     of the group is delivered; without log times only order and receive
//     counts are judged;
//   - deduplication: sends with the same deduplication id (or request id)
//     within DedupWindowMs of log time get one message id;
//   - nothing delivered after a successful delete or purge; stale handles
//     are not accepted.
func CheckFIFO(h History, opts Options) Result {
	res := newResult("fifo")
	if tooLong(&res, h, opts) {
		return res
	}
	keys, parts := buildQueueOps(h, true)
	runQueueModel("fifo", queueModel{ordered: true, withinWindow: h.WithinDedupWindow}, keys, parts, opts, &res)
	return res
}
