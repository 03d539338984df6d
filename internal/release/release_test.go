package release

// The release: goreleaser (pinned in tools/goreleaser, installed by
// .ci/install-tools) checks .goreleaser.yaml, then builds a snapshot release
// of this checkout into a temporary directory; the test then checks what a
// release would ship: 4 static binaries that report the injected version,
// archives holding them, and checksums of the archives.
//
// Run: PATH=$PWD/.tools/bin:$PATH go test -count=1 ./internal/release

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"debug/elf"
	"debug/macho"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const (
	// repoRoot is the module root, where goreleaser runs.
	repoRoot = "../.."
	// requireToolsEnv=1 turns a missing tool into a failure (make test sets it).
	requireToolsEnv = "TEST_REQUIRE_TOOLS"
)

// releaseTargets are the platforms a release ships.
var releaseTargets = []string{"darwin/amd64", "darwin/arm64", "linux/amd64", "linux/arm64"}

// artifact is an entry of goreleaser's dist/artifacts.json.
type artifact struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Goos   string `json:"goos"`
	Goarch string `json:"goarch"`
	Type   string `json:"type"`
}

// releaseMetadata is goreleaser's dist/metadata.json.
type releaseMetadata struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
}

// requireTool is the path of a program on PATH; when it is missing the test
// skips, or fails under TEST_REQUIRE_TOOLS=1.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(requireToolsEnv) == "1" {
			t.Fatalf("%s is not on PATH and %s=1 (run `make tools` and put .tools/bin on PATH)", name, requireToolsEnv)
		}
		t.Skipf("%s is not on PATH (run `make tools`; %s=1 makes this a failure)", name, requireToolsEnv)
	}
	return p
}

func TestRelease(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 4 release binaries; skipped with -short")
	}
	goreleaser := requireTool(t, "goreleaser")
	git := exec.Command("git", "rev-parse", "HEAD")
	git.Dir = repoRoot
	head, err := git.Output()
	if err != nil {
		t.Skipf("not a git checkout (goreleaser versions from git): %v", err)
	}

	// The checked-in configuration, writing into a temporary dist.
	tmp := t.TempDir()
	dist := filepath.Join(tmp, "dist")
	cfg := filepath.Join(tmp, "goreleaser.yaml")
	raw, err := os.ReadFile(filepath.Join(repoRoot, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	if _, ok := doc["dist"]; ok {
		t.Fatal(".goreleaser.yaml sets dist: leave the default (dist/, gitignored)")
	}
	doc["dist"] = dist
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}

	// The build uses the module cache only: no network, no toolchain
	// download, the go.mod as committed.
	env := append(os.Environ(), "GOPROXY=off", "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly")
	// goreleaser reads the commit only if `git ls-remote --get-url` answers:
	// give a checkout without a remote (a local worktree) the project's
	// URL, in the environment only (nothing is fetched from it).
	remote := exec.Command("git", "ls-remote", "--get-url")
	remote.Dir = repoRoot
	if err := remote.Run(); err != nil {
		t.Logf("no git remote: goreleaser runs with remote.origin.url set in its environment")
		env = append(env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=remote.origin.url", "GIT_CONFIG_VALUE_0=https://github.com/dfsreg/dfsreg.git")
	}

	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-10*time.Second))
		defer cancel()
	}
	run := func(args ...string) time.Duration {
		t.Helper()
		start := time.Now()
		cmd := exec.CommandContext(ctx, goreleaser, args...)
		cmd.Dir = repoRoot
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			hint := ""
			if bytes.Contains(out, []byte("module lookup disabled by GOPROXY=off")) {
				hint = "\n(a module the cross builds need is not in the module cache: run `go mod download`, as `make test` does)"
			}
			t.Fatalf("goreleaser %s: %v\n%s%s", strings.Join(args, " "), err, out, hint)
		}
		return time.Since(start)
	}
	run("check") // the checked-in .goreleaser.yaml
	took := run("release", "--snapshot", "--clean", "--config", cfg)
	t.Logf("goreleaser release --snapshot: %v", took.Round(time.Second))

	var meta releaseMetadata
	readJSON(t, filepath.Join(dist, "metadata.json"), &meta)
	if meta.Version == "" || meta.Commit != strings.TrimSpace(string(head)) {
		t.Fatalf("metadata.json: %+v, want a version and commit %s", meta, head)
	}
	var arts []artifact
	readJSON(t, filepath.Join(dist, "artifacts.json"), &arts)
	binaries, archives := map[string]artifact{}, map[string]artifact{}
	var checksums []artifact
	for _, a := range arts {
		if !filepath.IsAbs(a.Path) {
			a.Path = filepath.Join(repoRoot, a.Path)
		}
		switch a.Type {
		case "Binary":
			binaries[a.Goos+"/"+a.Goarch] = a
		case "Archive":
			archives[a.Goos+"/"+a.Goarch] = a
		case "Checksum":
			checksums = append(checksums, a)
		}
	}
	for _, m := range []map[string]artifact{binaries, archives} {
		var got []string
		for k := range m {
			got = append(got, k)
		}
		slices.Sort(got)
		if !slices.Equal(got, releaseTargets) {
			t.Fatalf("artifacts for %v, want %v (artifacts.json: %+v)", got, releaseTargets, arts)
		}
	}

	for _, target := range releaseTargets {
		bin := binaries[target]
		checkReleaseBinary(t, bin, meta.Version)
		checkArchive(t, archives[target], bin)
	}
	if len(checksums) != 1 {
		t.Fatalf("%d checksum files, want 1", len(checksums))
	}
	checkChecksums(t, checksums[0].Path, archives)

	// The binary for this machine runs and reports what was injected.
	host, ok := binaries[runtime.GOOS+"/"+runtime.GOARCH]
	if !ok {
		t.Logf("no release binary for %s/%s to run", runtime.GOOS, runtime.GOARCH)
		return
	}
	out, err := exec.Command(host.Path, "version").Output()
	if err != nil {
		t.Fatalf("%s version: %v", host.Path, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 4 || lines[0] != "dfsreg "+meta.Version || lines[1] != "commit "+meta.Commit ||
		!strings.HasPrefix(lines[2], "built 20") || !strings.HasPrefix(lines[3], "go1.") {
		t.Fatalf("%s version printed\n%s\nwant dfsreg %s, commit %s, built <date>, go<version>", host.Path, out, meta.Version, meta.Commit)
	}
}

// checkReleaseBinary: built from this module for its target, without cgo,
// trimmed, holding the injected version; static (linux) or linked to nothing
// but the OS (darwin, where libSystem is the system call interface).
func checkReleaseBinary(t *testing.T, a artifact, version string) {
	t.Helper()
	bi, err := buildinfo.ReadFile(a.Path)
	if err != nil {
		t.Fatalf("%s: %v", a.Path, err)
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	want := map[string]string{"CGO_ENABLED": "0", "GOOS": a.Goos, "GOARCH": a.Goarch, "-trimpath": "true"}
	for k, v := range want {
		if settings[k] != v {
			t.Errorf("%s: build setting %s=%q, want %q", a.Path, k, settings[k], v)
		}
	}
	if bi.Path != "github.com/dfsreg/dfsreg" {
		t.Errorf("%s: main package %q", a.Path, bi.Path)
	}
	// (With -trimpath Go does not record -ldflags: look for the string.)
	if b, err := os.ReadFile(a.Path); err != nil || !bytes.Contains(b, []byte(version)) {
		t.Errorf("%s: version %s not injected (%v)", a.Path, version, err)
	}
	switch a.Goos {
	case "linux":
		f, err := elf.Open(a.Path)
		if err != nil {
			t.Fatalf("%s: %v", a.Path, err)
		}
		defer f.Close()
		machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[a.Goarch]
		if f.Machine != machine {
			t.Errorf("%s: ELF machine %v, want %v", a.Path, f.Machine, machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
				t.Errorf("%s: has a %v program header: not static", a.Path, p.Type)
			}
		}
		if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
			t.Errorf("%s: needs %v: not static", a.Path, libs)
		}
	case "darwin":
		f, err := macho.Open(a.Path)
		if err != nil {
			t.Fatalf("%s: %v", a.Path, err)
		}
		defer f.Close()
		cpu := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[a.Goarch]
		if f.Cpu != cpu {
			t.Errorf("%s: Mach-O CPU %v, want %v", a.Path, f.Cpu, cpu)
		}
		libs, err := f.ImportedLibraries()
		if err != nil {
			t.Fatalf("%s: %v", a.Path, err)
		}
		for _, l := range libs {
			if !strings.HasPrefix(l, "/usr/lib/") && !strings.HasPrefix(l, "/System/Library/") {
				t.Errorf("%s: links %s, which macOS does not ship", a.Path, l)
			}
		}
	default:
		t.Errorf("%s: unexpected GOOS %s", a.Path, a.Goos)
	}
}

// checkArchive: the archive holds the binary, byte for byte, and the README.
func checkArchive(t *testing.T, a, bin artifact) {
	t.Helper()
	f, err := os.Open(a.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", a.Path, err)
	}
	want := fileSHA256(t, bin.Path)
	var names []string
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", a.Path, err)
		}
		names = append(names, h.Name)
		if h.Name == "dfsreg" {
			sum := sha256.New()
			if _, err := io.Copy(sum, tr); err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(sum.Sum(nil)); got != want {
				t.Errorf("%s: dfsreg is not the built binary %s", a.Path, bin.Path)
			}
			if h.Mode&0o111 == 0 {
				t.Errorf("%s: dfsreg is not executable (mode %o)", a.Path, h.Mode)
			}
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"README.md", "dfsreg"}) {
		t.Errorf("%s holds %v, want README.md and dfsreg", a.Path, names)
	}
}

// checkChecksums: one line per archive, each sum right.
func checkChecksums(t *testing.T, path string, archives map[string]artifact) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]string{}
	for _, a := range archives {
		want[a.Name] = fileSHA256(t, a.Path)
	}
	got := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("%s: bad line %q", path, sc.Text())
		}
		got[name] = sum
	}
	if len(got) != len(want) {
		t.Errorf("%s lists %v, want the archives %v", path, got, want)
	}
	for name, sum := range want {
		if got[name] != sum {
			t.Errorf("%s: %s has sum %q, want %s", path, name, got[name], sum)
		}
	}
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
