package queue

const (
	// tickPartitions bounds the partitions one Tick visits, and
	// tickLimit the entries it handles per index in each partition. Work
	// left over waits for the next Tick, which the leader proposes while
	// NextWake says there is work.
	tickPartitions = 256
	tickLimit      = 1024
)

// tick makes due messages visible and removes expired messages,
// deduplication records and receive attempts.
func (a *applier) tick() error {
	lo := []byte{pWake}
	keys, _, err := scanFrom(a.tx, lo, &a.shard.WakeFloor, appendTime([]byte{pWake}, a.now+1), tickPartitions)
	if err != nil {
		return err
	}
	for _, k := range keys {
		p, err := a.loadPartition(appendU64Decode(k[9:17]))
		if err != nil {
			return err
		}
		if p.st == nil {
			// The partition was purged of everything; its wake entry is stale.
			if err := a.tx.Delete(k); err != nil {
				return err
			}
			continue
		}
		if err := a.promoteDue(p, tickLimit); err != nil {
			return err
		}
		if err := a.expireDue(p, tickLimit); err != nil {
			return err
		}
		if err := a.expireRecords(p, pDedupExp, tickLimit); err != nil {
			return err
		}
		if err := a.expireRecords(p, pAttemptExp, tickLimit); err != nil {
			return err
		}
		if err := a.expireIdleGroups(p, tickLimit); err != nil {
			return err
		}
		p.exactWake = true
		if err := a.savePartition(p); err != nil {
			return err
		}
	}
	return nil
}

// expireRecords removes up to limit deduplication records or receive attempts
// (by their expiry index) whose time has passed.
func (a *applier) expireRecords(pt *partition, expiryPrefix byte, limit int) error {
	p := pt.id
	keys, _, err := a.scanIndex(pt, expiryPrefix, timedUpTo(expiryPrefix, p, a.now), limit)
	if err != nil {
		return err
	}
	recordPrefix := byte(pAttempt)
	if expiryPrefix == pDedupExp {
		recordPrefix = pDedup
	}
	for _, k := range keys {
		// The record's key is its expiry key without the time: prefix | p | rest.
		record := append(partitionPrefix(recordPrefix, p), k[17:]...)
		if err := a.tx.Delete(record); err != nil {
			return err
		}
		if err := a.tx.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
