package testenv

import "syscall"

// childAttr makes a server child die with the test process, so a crashed
// or killed test leaves no server behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
