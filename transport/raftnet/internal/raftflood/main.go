// Command raftflood attacks a node's Raft port as a stranger could, to
// measure what the node's memory does (issue 11): big connections announce
// a large frame and send part of it, idle connections send nothing. It
// holds them for a while and reports how the node treated each kind.
//
// By default the connections send raw frames, as a stranger to a node
// whose peers authenticate (mutual TLS or a cluster key) would: the peer
// port refuses them at the handshake. --hello opens each with peerlink's
// unauthenticated hello first, as anyone may on a node without peer
// authentication (a single node, or --insecure), so that the frames reach
// raftnet's reader and its own bounds are what is measured.
//
//	go run ./transport/raftnet/internal/raftflood --addr 127.0.0.1:7071 [--hello]
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wharfmq/wharf/transport/peerlink"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7071", "the node's Raft address")
	big := flag.Int("big", 16, "connections announcing a large frame")
	announce := flag.Uint("announce", 128<<20, "payload length the big connections announce")
	send := flag.Int("send", 64<<20, "payload bytes each big connection sends")
	idle := flag.Int("idle", 1000, "connections that send nothing")
	hold := flag.Duration("hold", 20*time.Second, "how long to hold the connections")
	hello := flag.Bool("hello", false, "open each connection with peerlink's unauthenticated hello (a node without peer authentication)")
	flag.Parse()
	dial := func() (net.Conn, error) { return net.Dial("tcp", *addr) }
	if *hello {
		link, err := peerlink.New(peerlink.Options{})
		if err != nil {
			fmt.Fprintln(os.Stderr, "raftflood:", err)
			os.Exit(1)
		}
		dial = func() (net.Conn, error) { return link.Dial(context.Background(), *addr, peerlink.Raft) }
	}
	if err := run(dial, *big, uint32(*announce), *send, *idle, *hold); err != nil {
		fmt.Fprintln(os.Stderr, "raftflood:", err)
		os.Exit(1)
	}
}

// header is a raftnet frame header (a message batch) announcing n bytes,
// with a valid checksum: the node trusts its length as far as it dares.
func header(n uint32) []byte {
	h := make([]byte, 16)
	h[0], h[1], h[2], h[3] = 'W', 'R', 1, 1
	binary.BigEndian.PutUint32(h[4:8], n)
	binary.BigEndian.PutUint32(h[12:16], crc32.Checksum(h[:12], crc32.MakeTable(crc32.Castagnoli)))
	return h
}

func run(dial func() (net.Conn, error), big int, announce uint32, send, idle int, hold time.Duration) error {
	var (
		wg        sync.WaitGroup
		sent      atomic.Int64 // payload bytes the big connections got written
		bigCut    atomic.Int32 // big connections the node closed
		idleCut   atomic.Int32 // idle connections the node closed
		dialFails atomic.Int32
	)
	deadline := time.Now().Add(hold)
	// watch waits until the node closes c or the hold ends.
	watch := func(c net.Conn) bool {
		c.SetReadDeadline(deadline)
		_, err := c.Read(make([]byte, 1))
		var ne net.Error
		return err != nil && !(errors.As(err, &ne) && ne.Timeout())
	}
	var conns []net.Conn
	var mu sync.Mutex
	keep := func(c net.Conn) { mu.Lock(); conns = append(conns, c); mu.Unlock() }
	for range big {
		c, err := dial()
		if err != nil {
			dialFails.Add(1)
			continue
		}
		keep(c)
		wg.Add(2)
		go func() {
			defer wg.Done()
			c.SetWriteDeadline(deadline)
			if _, err := c.Write(header(announce)); err != nil {
				return
			}
			chunk := make([]byte, 64<<10)
			for left := send; left > 0; {
				n, err := c.Write(chunk[:min(left, len(chunk))])
				sent.Add(int64(n))
				left -= n
				if err != nil {
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			if watch(c) {
				bigCut.Add(1)
			}
		}()
	}
	for range idle {
		c, err := dial()
		if err != nil {
			dialFails.Add(1)
			continue
		}
		keep(c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if watch(c) {
				idleCut.Add(1)
			}
		}()
	}
	fmt.Printf("opened %d big and %d idle connections (%d dials failed); holding %v\n", big, idle, dialFails.Load(), hold)
	wg.Wait()
	for _, c := range conns {
		c.Close()
	}
	fmt.Printf("big: %d of %d closed by the node, %d MiB of payload written\n", bigCut.Load(), big, sent.Load()>>20)
	fmt.Printf("idle: %d of %d closed by the node\n", idleCut.Load(), idle)
	return nil
}
