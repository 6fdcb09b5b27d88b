package peerlink

import (
	"crypto/rand"
	"io"
	"net"
	"testing"
)

// BenchmarkRefusedStranger opens a connection to a keyed peer port, sends
// a hello's worth of garbage and waits for the close: the cost of one
// refused stranger. Allocations count both ends (the dialler's socket
// too); the wall time is the round trip until the close.
func BenchmarkRefusedStranger(b *testing.B) {
	l, err := New(Options{ClusterKey: testKey})
	if err != nil {
		b.Fatal(err)
	}
	pl, err := l.Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer pl.Close()
	garbage := make([]byte, helloSize)
	rand.Read(garbage)
	var sink [1]byte
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c, err := net.Dial("tcp", pl.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		c.Write(garbage)
		if _, err := io.ReadFull(c, sink[:]); err == nil {
			b.Fatal("the stranger got an answer")
		}
		c.Close()
	}
}

// BenchmarkPlainAcceptClose is the baseline: the same dial, write and wait
// against a bare listener that closes every connection it accepts, so the
// difference to BenchmarkRefusedStranger is what the peer port costs.
func BenchmarkPlainAcceptClose(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var buf [helloSize]byte
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.ReadFull(c, buf[:])
			c.Close()
		}
	}()
	garbage := make([]byte, helloSize)
	var sink [1]byte
	b.ReportAllocs()
	for b.Loop() {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		c.Write(garbage)
		io.ReadFull(c, sink[:])
		c.Close()
	}
}
