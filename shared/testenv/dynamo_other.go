//go:build !linux

package testenv

import "syscall"

// childAttr: outside Linux a child cannot be tied to the parent's death;
// Close stops it.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
