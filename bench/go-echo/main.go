// SPDX-License-Identifier: GPL-2.0 OR MIT

// go-echo: TCP echo server in Go, an opponent in the echo benchmark.
//
// usage: go-echo PORT [THREADS]
//
// Listens on 127.0.0.1:PORT and writes back every byte it reads, one
// goroutine per connection (Go's netpoller multiplexes them over epoll).
// THREADS sets GOMAXPROCS; by default Go uses the CPUs this process may
// run on. Standard library only: bench/bench.mk builds it with
// GO111MODULE=off, so nothing is downloaded.
package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"time"
)

func echo(c *net.TCPConn) {
	defer c.Close()
	c.SetNoDelay(true) // Go's default, said explicitly
	buf := make([]byte, 64*1024)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: go-echo PORT [THREADS]")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 {
		usage()
	}
	port, err := strconv.ParseUint(os.Args[1], 10, 16)
	if err != nil {
		usage()
	}
	if len(os.Args) == 3 {
		t, err := strconv.Atoi(os.Args[2])
		if err != nil || t < 1 {
			usage()
		}
		runtime.GOMAXPROCS(t)
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(port)})
	if err != nil {
		fmt.Fprintf(os.Stderr, "go-echo: 127.0.0.1:%d: %v\n", port, err)
		os.Exit(1)
	}
	for {
		c, err := ln.AcceptTCP()
		if err != nil {
			// Out of descriptors or the like: keep serving the
			// others, and do not spin while it lasts.
			fmt.Fprintf(os.Stderr, "go-echo: accept: %v\n", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go echo(c)
	}
}
