package bench

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Proc is a server process the bench started, in a process group of its
// own, so that its CPU time counts every process it spawned (RabbitMQ's
// start script runs the Erlang VM as a child) and pausing stops them all.
type Proc struct {
	Name string
	Log  string // file holding its stdout and stderr
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

// StartProc starts cmd in a new process group with its output in logPath.
func StartProc(name string, cmd *exec.Cmd, logPath string) (*Proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Proc{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// PID is the process id of the process started (the group's leader).
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Exited reports whether the started process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// signalGroup sends sig to every process of p's group.
func (p *Proc) signalGroup(sig syscall.Signal) error {
	return syscall.Kill(-p.PID(), sig)
}

// Pause stops every process of the group (SIGSTOP), so that an idle
// system under test does not take CPU from the one being measured.
func (p *Proc) Pause() error { return p.signalGroup(syscall.SIGSTOP) }

// Resume continues a paused group (SIGCONT).
func (p *Proc) Resume() error { return p.signalGroup(syscall.SIGCONT) }

// Stop asks the group to terminate (SIGTERM, after a SIGCONT in case it
// is paused) and kills it (SIGKILL) if the leader has not exited after
// grace.
func (p *Proc) Stop(grace time.Duration) error {
	p.signalGroup(syscall.SIGCONT)
	p.signalGroup(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.signalGroup(syscall.SIGKILL)
		<-p.done
	}
	// Children that outlived the leader (a stray Erlang helper) go too.
	p.signalGroup(syscall.SIGKILL)
	return nil
}

// CPU returns the user plus system CPU time used so far by the processes
// now in p's group, including the children they have waited for.
func (p *Proc) CPU() (time.Duration, error) { return groupCPU(p.PID()) }

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times: 100 on every
// Linux architecture Go supports.
const clockTick = 100

// procStat reads the process group, utime, stime, cutime and cstime of
// pid from /proc/<pid>/stat.
func procStat(pid string) (pgrp int, ticks int64, err error) {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) may hold spaces and parentheses; the
	// fields after it follow the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); pgrp is field 5, utime..cstime 14-17.
	if len(f) < 15 {
		return 0, 0, errors.New("short /proc stat")
	}
	pgrp, err = strconv.Atoi(f[2])
	if err != nil {
		return 0, 0, err
	}
	for _, k := range f[11:15] {
		n, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return 0, 0, err
		}
		ticks += n
	}
	return pgrp, ticks, nil
}

// groupLive counts the processes of group pgid that have not exited
// (zombies waiting to be reaped do not count).
func groupLive(pgid int) int {
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			n++
		}
	}
	return n
}

// groupCPU sums the CPU times of every process in process group pgid.
func groupCPU(pgid int) (time.Duration, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var ticks int64
	found := false
	for _, e := range entries {
		if e.Name()[0] < '0' || e.Name()[0] > '9' {
			continue
		}
		g, t, err := procStat(e.Name())
		if err != nil || g != pgid {
			continue // gone meanwhile, or another group
		}
		ticks += t
		found = true
	}
	if !found {
		return 0, fmt.Errorf("no process in group %d", pgid)
	}
	return time.Duration(ticks) * time.Second / clockTick, nil
}

// selfCPU returns the CPU time this process has used.
func selfCPU() time.Duration {
	_, t, err := procStat(strconv.Itoa(os.Getpid()))
	if err != nil {
		return 0
	}
	return time.Duration(t) * time.Second / clockTick
}

// serversCPU sums CPU() over procs; it ignores processes that are gone.
func serversCPU(procs []*Proc) time.Duration {
	var sum time.Duration
	for _, p := range procs {
		if d, err := p.CPU(); err == nil {
			sum += d
		}
	}
	return sum
}

// FreePorts returns n distinct free TCP ports on 127.0.0.1. It holds every
// listener open until all are chosen, so no port is handed out twice.
func FreePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// waitTCP waits until addr accepts TCP connections or limit passes.
func waitTCP(addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting connections after %v: %w", addr, limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
