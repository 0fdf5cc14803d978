//go:build !linux

package main

import "syscall"

// childSysProcAttr returns no special attributes outside Linux.
func childSysProcAttr() *syscall.SysProcAttr { return nil }
