package linearizability

// CheckStandard checks the standard queues of h, one porcupine partition
// per message (standard queues promise no order worth checking here):
//   - lease exclusivity: a message is delivered only when no lease on it is
//     unexpired at the receive's log time; a receive count that does not
//     grow means two clients hold a current handle at once (this part needs
//     no log times);
//   - redelivery only after the lease expired or a change of visibility
//     (to 0, or a shorter timeout) ended it;
//   - nothing delivered after a successful delete with a current handle or
//     a purge; stale handles are not accepted;
//   - a retried send (same request id within DedupWindowMs) is stored once.
func CheckStandard(h History, opts Options) Result {
	res := newResult("standard")
	if tooLong(&res, h, opts) {
		return res
	}
	keys, parts := buildQueueOps(h, false)
	runQueueModel("standard", queueModel{ordered: false, withinWindow: h.WithinDedupWindow}, keys, parts, opts, &res)
	return res
}
