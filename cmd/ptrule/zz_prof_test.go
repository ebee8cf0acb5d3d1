package main

import (
	"io"
	"os"
	"testing"
)

func TestZZProfScan(t *testing.T) {
	if os.Getenv("ZZPROF") == "" {
		t.Skip()
	}
	for i := 0; i < 3; i++ {
		cmdScan([]string{"--config", os.Getenv("ZZPROF")}, io.Discard, io.Discard)
	}
}
