package main

// CLI workflow tests: testscript scripts in testdata/scripts drive real
// registry clients (crane, regctl, oras, skopeo, docker) against a real
// `dfsreg serve` started by each script.
//
// The clients are found on PATH (the Makefile puts .tools/bin first). A
// script guards each client with the [tool:NAME] condition: a missing client
// skips the script with a message, or fails it when TEST_REQUIRE_TOOLS=1
// (as CI sets). The docker script is guarded by the needdocker command: it
// skips when docker is missing or `docker info` fails, and fails instead
// when TEST_REQUIRE_DOCKER=1.
//
// Run: PATH=$PWD/.tools/bin:$PATH go test -run TestScripts -count=1 .

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/dfsreg/dfsreg/cmd"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"dfsreg": func() { os.Exit(cmd.Main()) },
	})
}

// Environment variables that turn a skip into a failure.
const (
	requireToolsEnv  = "TEST_REQUIRE_TOOLS"
	requireDockerEnv = "TEST_REQUIRE_DOCKER"
)

// fixtures2DFS is the shared 2DFS fixture directory (../shared beside the
// checkout, as CI lays it out), made absolute for the scripts.
func fixtures2DFS(t *testing.T) string {
	dir, err := filepath.Abs(filepath.Join("..", "shared", "testdata", "2dfs"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestScripts(t *testing.T) {
	goEnv := goEnvVars(t)
	fixtures := fixtures2DFS(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/scripts",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			port, err := freePort()
			if err != nil {
				return err
			}
			env.Setenv("PORT", strconv.Itoa(port))
			env.Setenv("REG", "127.0.0.1:"+strconv.Itoa(port))
			env.Setenv("TDFS_FIXTURES", fixtures)
			// Clients keep their configuration under HOME (regctl's
			// registry settings, docker's config.json): one per script.
			env.Setenv("HOME", env.WorkDir)
			env.Setenv("XDG_CONFIG_HOME", filepath.Join(env.WorkDir, ".config"))
			runDir := filepath.Join(env.WorkDir, ".run")
			if err := os.Mkdir(runDir, 0o700); err != nil {
				return err
			}
			env.Setenv("XDG_RUNTIME_DIR", runDir)
			env.Setenv("DOCKER_CONFIG", filepath.Join(env.WorkDir, ".docker"))
			// The docker daemon the caller's docker uses (its context lives
			// in the caller's docker config, which the script does not see).
			if h := dockerHost(); h != "" {
				env.Setenv("DOCKER_HOST", h)
			}
			for _, k := range []string{"DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"} {
				if v, ok := os.LookupEnv(k); ok {
					env.Setenv(k, v)
				}
			}
			// `go build` in a script shares the caller's build and module
			// caches, and never reaches the network.
			for k, v := range goEnv {
				env.Setenv(k, v)
			}
			env.Values[tKey{}] = env.T()
			return nil
		},
		Condition: condition,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"waitreg":       cmdWaitreg,
			"sha256file":    cmdSha256file,
			"envfrom":       cmdEnvfrom,
			"httpdo":        cmdHTTPDo,
			"mktar":         cmdMktar,
			"mkrand":        cmdMkrand,
			"tarcat":        cmdTarcat,
			"ocilayout":     cmdOCILayout,
			"jsonget":       cmdJSONGet,
			"sigterm":       cmdSigterm,
			"needdocker":    cmdNeedDocker,
			"dockercleanup": cmdDockerCleanup,
			"htpasswd":      cmdHtpasswd,
			"tokenserver":   cmdTokenServer,
			"freeport":      cmdFreeport,
		},
	})
}

type tKey struct{}

// goEnvVars is the caller's Go environment that a script's `go build` needs:
// the build and module caches (HOME is the script's work directory) and no
// network or toolchain download.
func goEnvVars(t *testing.T) map[string]string {
	out := map[string]string{"GOPROXY": "off", "GOTOOLCHAIN": "local"}
	goBin, err := exec.LookPath("go")
	if err != nil {
		return out
	}
	b, err := exec.Command(goBin, "env", "GOCACHE", "GOMODCACHE", "GOPATH").Output()
	if err != nil {
		t.Logf("go env: %v", err)
		return out
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} {
		if i < len(lines) && lines[i] != "" {
			out[k] = lines[i]
		}
	}
	return out
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// condition implements [tool:NAME]: NAME is on PATH. When it is not and
// TEST_REQUIRE_TOOLS=1, the condition is an error, which fails the script.
func condition(cond string) (bool, error) {
	name, ok := strings.CutPrefix(cond, "tool:")
	if !ok {
		return false, fmt.Errorf("unknown condition %q", cond)
	}
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv(requireToolsEnv) == "1" {
			return false, fmt.Errorf("%s is not on PATH and %s=1 (run `make tools` and put .tools/bin on PATH)", name, requireToolsEnv)
		}
		return false, nil
	}
	return true, nil
}

// usage fails the script with a usage message.
func usage(ts *testscript.TestScript, u string) {
	ts.Fatalf("usage: %s", u)
}

// noNeg fails when a command that cannot be negated is.
func noNeg(ts *testscript.TestScript, neg bool, name string) {
	if neg {
		ts.Fatalf("unsupported: ! %s", name)
	}
}

func baseURL(s string) string {
	if !strings.Contains(s, "://") {
		s = "http://" + s
	}
	return strings.TrimSuffix(s, "/")
}

// waitreg URL: poll GET URL/v2/ until it answers 200 (or 401: auth is on),
// for at most 20 s.
func cmdWaitreg(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "waitreg")
	if len(args) != 1 {
		usage(ts, "waitreg HOST:PORT|URL")
	}
	u := baseURL(args[0]) + "/v2/"
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := client.Get(u)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("registry at %s not ready after 20s: %s", u, last)
}

// sha256file FILE: print sha256:<hex> of FILE (or stdout/stderr).
func cmdSha256file(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "sha256file")
	if len(args) != 1 {
		usage(ts, "sha256file FILE")
	}
	sum := sha256.Sum256([]byte(ts.ReadFile(args[0])))
	fmt.Fprintf(ts.Stdout(), "sha256:%s\n", hex.EncodeToString(sum[:]))
}

// envfrom VAR FILE [REGEXP]: set VAR to FILE's content (FILE may be stdout
// or stderr), trimmed; with REGEXP, to its first match (its first group if
// it has one). No match fails.
func cmdEnvfrom(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "envfrom")
	if len(args) < 2 || len(args) > 3 {
		usage(ts, "envfrom VAR FILE [REGEXP]")
	}
	val := ts.ReadFile(args[1])
	if len(args) == 3 {
		re, err := regexp.Compile(args[2])
		ts.Check(err)
		m := re.FindStringSubmatch(val)
		if m == nil {
			ts.Fatalf("envfrom: %q does not match in %s:\n%s", args[2], args[1], val)
		}
		val = m[0]
		if len(m) > 1 {
			val = m[1]
		}
	}
	val = strings.TrimSpace(val)
	if val == "" {
		ts.Fatalf("envfrom: %s is empty", args[1])
	}
	ts.Setenv(args[0], val)
	ts.Logf("%s=%s", args[0], val)
}

// httpdo [-H 'K: V']... [-d FILE] METHOD URL STATUS: one request; the status
// must be STATUS. The response body goes to stdout, the status line and
// headers to stderr (one "Key: value" line each).
func cmdHTTPDo(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "httpdo")
	const u = "httpdo [-H 'Key: value']... [-d FILE] METHOD URL STATUS"
	hdr := http.Header{}
	var body []byte
	for len(args) > 0 && strings.HasPrefix(args[0], "-") {
		if len(args) < 2 {
			usage(ts, u)
		}
		switch args[0] {
		case "-H":
			k, v, ok := strings.Cut(args[1], ":")
			if !ok {
				usage(ts, u)
			}
			hdr.Add(strings.TrimSpace(k), strings.TrimSpace(v))
		case "-d":
			body = []byte(ts.ReadFile(args[1]))
		default:
			usage(ts, u)
		}
		args = args[2:]
	}
	if len(args) != 3 {
		usage(ts, u)
	}
	want, err := strconv.Atoi(args[2])
	if err != nil {
		usage(ts, u)
	}
	req, err := http.NewRequest(args[0], args[1], bytes.NewReader(body))
	ts.Check(err)
	req.Header = hdr
	// A connection of its own: exactly one request is sent (the default
	// transport would retry a GET on a reused connection that broke).
	client := &http.Client{
		Transport:     &http.Transport{DisableKeepAlives: true},
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	ts.Check(err)
	ts.Stdout().Write(b)
	fmt.Fprintf(ts.Stderr(), "%s\n", resp.Status)
	keys := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range resp.Header[k] {
			fmt.Fprintf(ts.Stderr(), "%s: %s\n", k, v)
		}
	}
	if resp.StatusCode != want {
		ts.Fatalf("%s %s: status %s, want %d", args[0], args[1], resp.Status, want)
	}
}

// mktar OUT FILE...: write an uncompressed tar of FILEs (relative paths,
// stored under their names) with fixed metadata, so its digest depends only
// on the content.
func cmdMktar(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "mktar")
	if len(args) < 2 {
		usage(ts, "mktar OUT FILE...")
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range args[1:] {
		data := []byte(ts.ReadFile(name))
		ts.Check(tw.WriteHeader(&tar.Header{
			Typeflag: tar.TypeReg,
			Name:     filepath.ToSlash(name),
			Mode:     0o755,
			Size:     int64(len(data)),
			ModTime:  time.Unix(1_700_000_000, 0),
			Format:   tar.FormatPAX,
		}))
		_, err := tw.Write(data)
		ts.Check(err)
	}
	ts.Check(tw.Close())
	ts.Check(os.WriteFile(ts.MkAbs(args[0]), buf.Bytes(), 0o666))
}

// mkrand FILE SIZE: write SIZE bytes (suffixes k, M: KiB, MiB) of
// pseudo-random data to FILE, the same for the same FILE name and SIZE.
func cmdMkrand(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "mkrand")
	if len(args) != 2 {
		usage(ts, "mkrand FILE SIZE")
	}
	num, mult := args[1], int64(1)
	switch {
	case strings.HasSuffix(num, "k"):
		num, mult = strings.TrimSuffix(num, "k"), 1<<10
	case strings.HasSuffix(num, "M"):
		num, mult = strings.TrimSuffix(num, "M"), 1<<20
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		usage(ts, "mkrand FILE SIZE")
	}
	seed := sha256.Sum256([]byte(args[0] + "\x00" + args[1]))
	f, err := os.Create(ts.MkAbs(args[0]))
	ts.Check(err)
	defer f.Close()
	w := bufio.NewWriter(f)
	// SHA-256 in counter mode: deterministic and incompressible.
	var block [sha256.Size]byte
	var buf [sha256.Size + 8]byte
	copy(buf[:], seed[:])
	for left, ctr := n*mult, uint64(0); left > 0; ctr++ {
		binary.LittleEndian.PutUint64(buf[sha256.Size:], ctr)
		block = sha256.Sum256(buf[:])
		k := min(left, int64(len(block)))
		_, err := w.Write(block[:k])
		ts.Check(err)
		left -= k
	}
	ts.Check(w.Flush())
	ts.Check(f.Close())
}

// tarcat TAR NAME: print the content of entry NAME of TAR (gzip or not).
// A missing entry fails (or succeeds, negated).
func cmdTarcat(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		usage(ts, "tarcat TAR NAME")
	}
	f, err := os.Open(ts.MkAbs(args[0]))
	ts.Check(err)
	defer f.Close()
	br := bufio.NewReader(f)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		ts.Check(err)
		r = zr
	}
	tr := tar.NewReader(r)
	want := strings.TrimPrefix(args[1], "/")
	var names []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		ts.Check(err)
		name := strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/")
		if name == want {
			if neg {
				ts.Fatalf("%s has entry %s", args[0], want)
			}
			_, err := io.Copy(ts.Stdout(), tr)
			ts.Check(err)
			return
		}
		names = append(names, name)
	}
	if !neg {
		ts.Fatalf("%s has no entry %s; entries: %v", args[0], want, names)
	}
}

type descriptor struct {
	MediaType    string            `json:"mediaType"`
	Digest       string            `json:"digest"`
	Size         int64             `json:"size"`
	ArtifactType string            `json:"artifactType,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Platform     *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	} `json:"platform,omitempty"`
}

type manifestDoc struct {
	MediaType string       `json:"mediaType"`
	Config    *descriptor  `json:"config"`
	Layers    []descriptor `json:"layers"`
	Manifests []descriptor `json:"manifests"`
	Subject   *descriptor  `json:"subject"`
	Blobs     []descriptor `json:"blobs"`
}

// ocilayout DIR: check DIR is a complete OCI image layout: oci-layout is
// there, every blob's content hashes to its name, and every descriptor
// reachable from index.json (indexes, manifests, configs, layers) has its
// blob with the declared size. Prints one line per blob reached:
// "<mediaType> <digest> <size>", in walk order.
func cmdOCILayout(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "ocilayout")
	if len(args) != 1 {
		usage(ts, "ocilayout DIR")
	}
	dir := ts.MkAbs(args[0])
	if _, err := os.Stat(filepath.Join(dir, "oci-layout")); err != nil {
		ts.Fatalf("not an OCI layout: %v", err)
	}
	blobDir := filepath.Join(dir, "blobs", "sha256")
	ents, err := os.ReadDir(blobDir)
	ts.Check(err)
	for _, e := range ents {
		data, err := os.ReadFile(filepath.Join(blobDir, e.Name()))
		ts.Check(err)
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != e.Name() {
			ts.Fatalf("blob %s hashes to %s", e.Name(), got)
		}
	}
	idx, err := os.ReadFile(filepath.Join(dir, "index.json"))
	ts.Check(err)
	var walk func(d descriptor, depth int)
	seen := map[string]bool{}
	walk = func(d descriptor, depth int) {
		if depth > 8 {
			ts.Fatalf("descriptor nesting too deep at %s", d.Digest)
		}
		hexd, ok := strings.CutPrefix(d.Digest, "sha256:")
		if !ok {
			ts.Fatalf("descriptor digest %q is not sha256", d.Digest)
		}
		data, err := os.ReadFile(filepath.Join(blobDir, hexd))
		if err != nil {
			ts.Fatalf("descriptor %s (%s): blob missing: %v", d.Digest, d.MediaType, err)
		}
		if int64(len(data)) != d.Size {
			ts.Fatalf("descriptor %s: size %d, blob has %d bytes", d.Digest, d.Size, len(data))
		}
		if seen[d.Digest] {
			return
		}
		seen[d.Digest] = true
		fmt.Fprintf(ts.Stdout(), "%s %s %d\n", d.MediaType, d.Digest, d.Size)
		if !strings.Contains(d.MediaType, "manifest") && !strings.Contains(d.MediaType, "index") {
			return
		}
		var m manifestDoc
		if err := json.Unmarshal(data, &m); err != nil {
			ts.Fatalf("manifest %s: %v", d.Digest, err)
		}
		for _, c := range m.Manifests {
			walk(c, depth+1)
		}
		if m.Config != nil {
			walk(*m.Config, depth+1)
		}
		for _, l := range m.Layers {
			walk(l, depth+1)
		}
		for _, b := range m.Blobs {
			walk(b, depth+1)
		}
	}
	var index manifestDoc
	if err := json.Unmarshal(idx, &index); err != nil {
		ts.Fatalf("index.json: %v", err)
	}
	if len(index.Manifests) == 0 {
		ts.Fatalf("index.json lists no manifests")
	}
	for _, d := range index.Manifests {
		walk(d, 0)
	}
}

// jsonget FILE PATH: print the JSON value at PATH in FILE (stdout, stderr
// or a file). PATH is dot-separated: object keys and array indexes, e.g.
// manifests.0.digest (a key may itself hold dots: the longest key that
// matches is taken); "." is the whole document. Strings print bare, other
// values as JSON; "length" after an array is its length. A
// missing element fails.
func cmdJSONGet(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "jsonget")
	if len(args) != 2 {
		usage(ts, "jsonget FILE PATH")
	}
	var v any
	dec := json.NewDecoder(strings.NewReader(ts.ReadFile(args[0])))
	dec.UseNumber()
	ts.Check(dec.Decode(&v))
	if args[1] != "." {
		els := strings.Split(args[1], ".")
		for len(els) > 0 {
			switch x := v.(type) {
			case map[string]any:
				// Keys may hold dots (annotations): take the longest key
				// that matches.
				found := false
				for j := len(els); j > 0; j-- {
					if val, ok := x[strings.Join(els[:j], ".")]; ok {
						v, els, found = val, els[j:], true
						break
					}
				}
				if !found {
					ts.Fatalf("jsonget: no key %q in %s", els[0], args[1])
				}
			case []any:
				el := els[0]
				els = els[1:]
				if el == "length" {
					v = json.Number(strconv.Itoa(len(x)))
					continue
				}
				i, err := strconv.Atoi(el)
				if err != nil || i < 0 || i >= len(x) {
					ts.Fatalf("jsonget: bad index %q (length %d) in %s", el, len(x), args[1])
				}
				v = x[i]
			default:
				ts.Fatalf("jsonget: %q: not an object or array in %s", els[0], args[1])
			}
		}
	}
	if s, ok := v.(string); ok {
		fmt.Fprintln(ts.Stdout(), s)
		return
	}
	b, err := json.Marshal(v)
	ts.Check(err)
	fmt.Fprintln(ts.Stdout(), string(b))
}

// sigterm PROG: send SIGTERM to every background command (not yet waited
// for) whose program is PROG; testscript's kill sends only KILL or INT.
// Then `wait` checks how it exited.
func cmdSigterm(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "sigterm")
	if len(args) != 1 {
		usage(ts, "sigterm PROG")
	}
	n := 0
	for _, c := range ts.BackgroundCmds() {
		if filepath.Base(c.Path) != args[0] {
			continue
		}
		ts.Check(c.Process.Signal(syscall.SIGTERM))
		n++
	}
	if n == 0 {
		ts.Fatalf("no running background %s", args[0])
	}
}

// dockerHost is the daemon address of the caller's docker: DOCKER_HOST, or
// the endpoint of its current context; "" when docker is not there.
var dockerHost = sync.OnceValue(func() string {
	if h := os.Getenv("DOCKER_HOST"); h != "" {
		return h
	}
	if _, err := exec.LookPath("docker"); err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", "context", "inspect", "--format", "{{.Endpoints.docker.Host}}").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
})

var dockerInfo = sync.OnceValue(func() error {
	if _, err := exec.LookPath("docker"); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, "docker", "info", "--format", "{{.ServerVersion}}")
	if h := dockerHost(); h != "" {
		c.Env = append(os.Environ(), "DOCKER_HOST="+h)
	}
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker info: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if strings.TrimSpace(string(out)) == "" {
		return errors.New("docker info: no server version")
	}
	return nil
})

// needdocker: skip the script unless docker is on PATH and its daemon
// answers `docker info`; with TEST_REQUIRE_DOCKER=1, fail instead.
func cmdNeedDocker(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "needdocker")
	err := dockerInfo()
	if err == nil {
		return
	}
	if os.Getenv(requireDockerEnv) == "1" {
		ts.Fatalf("docker unusable and %s=1: %v", requireDockerEnv, err)
	}
	t, _ := ts.Value(tKey{}).(testscript.T)
	if t == nil {
		ts.Fatalf("docker unusable: %v", err)
	}
	t.Skip("docker unusable (set " + requireDockerEnv + "=1 to fail instead): " + err.Error())
}

// dockercleanup IMAGE...: at the end of the script, pass or fail, remove
// these local images (missing ones are ignored).
func cmdDockerCleanup(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "dockercleanup")
	if len(args) == 0 {
		usage(ts, "dockercleanup IMAGE...")
	}
	images := slices.Clone(args)
	ts.Defer(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		exec.CommandContext(ctx, "docker", append([]string{"rmi", "-f"}, images...)...).Run()
	})
}

// freeport VAR: set VAR to a free loopback port (for a second registry).
func cmdFreeport(ts *testscript.TestScript, neg bool, args []string) {
	noNeg(ts, neg, "freeport")
	if len(args) != 1 {
		usage(ts, "freeport VAR")
	}
	port, err := freePort()
	ts.Check(err)
	ts.Setenv(args[0], strconv.Itoa(port))
}
