package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=…"; else the
// module version or "devel".
var version = ""

func init() {
	commands["version"] = command{"print the version", func(args []string, stdout, stderr io.Writer) int {
		fmt.Fprintf(stdout, "hamlet %s (%s)\n", versionString(), runtime.Version())
		return exitOK
	}}
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
