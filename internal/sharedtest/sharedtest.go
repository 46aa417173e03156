// Package sharedtest finds the public test data that lives beside the
// repository, in ../shared (conformance suites, corpus), without copying
// it: tests read it in place.
package sharedtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Dir returns the directory sub (e.g. "conformance/spf" or
// "corpus/spamassassin-testdata") of the shared test data, found at
// $HAMLET_CONFORMANCE for "conformance/…" and $HAMLET_CORPUS for
// "corpus/…" when set, else under $HAMLET_SHARED, else under "../shared"
// beside the module root. When it is absent the test is skipped, or fails
// when CI=true (CI must run every test).
func Dir(t testing.TB, sub string) string {
	t.Helper()
	dir := ""
	first, rest, _ := strings.Cut(filepath.ToSlash(sub), "/")
	if env := map[string]string{"conformance": "HAMLET_CONFORMANCE", "corpus": "HAMLET_CORPUS"}[first]; env != "" {
		if root := os.Getenv(env); root != "" {
			dir = filepath.Join(root, rest)
		}
	}
	if dir == "" {
		root := os.Getenv("HAMLET_SHARED")
		if root == "" {
			root = filepath.Join(moduleRoot(t), "..", "shared")
		}
		dir = filepath.Join(root, sub)
	}
	if _, err := os.Stat(dir); err != nil {
		Missing(t, "shared test data %s is missing (set HAMLET_SHARED, HAMLET_CONFORMANCE or HAMLET_CORPUS): %v", dir, err)
	}
	return dir
}

// moduleRoot walks up from the working directory to the one holding
// go.mod.
func moduleRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			t.Fatalf("no go.mod above %s", dir)
		}
	}
}

// Require fails (under CI=true) or skips the test when the program name is
// not on PATH, and returns its path.
func Require(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := lookPath(name)
	if err != nil {
		Missing(t, "%s not installed (Debian package %s; apt-get install %s, .ci/install does): %v", name, pkg, pkg, err)
	}
	return p
}

// RequireProgram is Require for a program that may live outside PATH
// (daemons in /usr/sbin, helpers in /usr/lib/…): the first of paths that
// exists, else name on PATH, else a failure under CI=true or a skip.
func RequireProgram(t testing.TB, name, pkg string, paths ...string) string {
	t.Helper()
	for _, p := range paths {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return Require(t, name, pkg)
}

// RequireFile fails (under CI=true) or skips the test when path, a file
// the Debian package pkg installs (a plugin, a module), is missing.
func RequireFile(t testing.TB, path, pkg string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required (Debian package %s; .ci/run installs it): %v", path, pkg, err)
		}
		t.Skipf("%s missing (apt-get install %s): %v", path, pkg, err)
	}
}
