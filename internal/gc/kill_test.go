package gc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dfsreg/dfsreg/cmd"
	"github.com/dfsreg/dfsreg/internal/gc"
	"github.com/dfsreg/dfsreg/internal/store"
)

// execEnv makes the test binary run as dfsreg (see TestMain): the
// subprocess tests start `dfsreg gc` that way instead of building dfsreg.
const execEnv = "GC_TEST_EXEC_DFSREG"

func TestMain(m *testing.M) {
	if os.Getenv(execEnv) == "1" {
		os.Exit(cmd.Main())
	}
	os.Exit(m.Run())
}

// dfsregCmd is `dfsreg args...` (this test binary, as dfsreg).
func dfsregCmd(args ...string) *exec.Cmd {
	c := exec.Command(os.Args[0], args...)
	c.Env = append(os.Environ(), execEnv+"=1")
	return c
}

// TestKillGC kills `dfsreg gc` (kill -9) at random points of collections of
// thousands of blobs. After each kill the store must be consistent except
// for byte deletions left pending (every blob recorded has its bytes, every
// tagged image is complete); after a last, uninterrupted run, nothing is
// pending, all the garbage is gone and every tagged image verifies.
func TestKillGC(t *testing.T) {
	root := t.TempDir()
	initStore(t, root)
	st, err := store.Open(context.Background(), store.Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rounds := 8
	if testing.Short() {
		rounds = 3
	}
	rnd := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	var all []*seeded
	killed, leftPending, finished := 0, 0, 0
	for round := range rounds {
		all = append(all, seed(t, root, seedSpec{Prefix: fmt.Sprintf("k%d/r", round), Repos: 4, Manifests: 20, Blobs: 50, Garbage: 10, Age: 2 * time.Hour}))
		c := dfsregCmd("gc", "--root", root, "--grace", "1m", "--untagged", "--retention", "0s", "--json", "--log-level", "error")
		var out strings.Builder
		c.Stdout = &out
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		delay := time.Duration(rnd.IntN(1200)) * time.Millisecond
		done := make(chan error, 1)
		go func() { done <- c.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("gc failed: %v\n%s", err, out.String())
			}
			finished++
		case <-time.After(delay):
			c.Process.Signal(syscall.SIGKILL)
			<-done
			killed++
		}
		problems, err := st.CheckIntegrity(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			if strings.Contains(p, "pending") {
				leftPending++
				continue
			}
			t.Errorf("round %d, after kill at %s: %s", round, delay, p)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	t.Logf("%d rounds: %d runs killed (%d left byte deletions pending), %d finished before the kill", rounds, killed, leftPending, finished)
	if killed == 0 {
		t.Fatal("no run was killed: the test did not test anything")
	}

	// The next run, uninterrupted, finishes the job.
	out, err := dfsregCmd("gc", "--root", root, "--grace", "1m", "--untagged", "--retention", "0s", "--json").Output()
	if err != nil {
		t.Fatalf("last gc: %v", err)
	}
	var rep gc.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("gc --json: %v\n%s", err, out)
	}
	consistent(t, st)
	if pending, err := st.PendingBlobs(context.Background()); err != nil || len(pending) != 0 {
		t.Fatalf("pending after a full run: %v, %v", pending, err)
	}
	live := 0
	for _, s := range all {
		live += s.liveBlobs
		for repo, tags := range s.tags {
			for tag, d := range tags {
				m, err := st.GetManifest(context.Background(), repo, tag)
				if err != nil || m.Digest != d {
					t.Fatalf("%s:%s: %v", repo, tag, err)
				}
				for _, b := range s.blobsOf[d] {
					if err := st.VerifyBlob(context.Background(), repo, b.Digest); err != nil {
						t.Fatalf("%s:%s: blob %s: %v", repo, tag, b.Digest, err)
					}
				}
			}
		}
	}
	var blobs int
	if err := openDB(t, root).QueryRow(`SELECT COUNT(*) FROM blobs`).Scan(&blobs); err != nil {
		t.Fatal(err)
	}
	if blobs != live {
		t.Fatalf("%d blobs recorded after the last run, want the %d live ones", blobs, live)
	}
	// And the backend holds the live blobs' bytes, nothing else.
	files, err := filepath.Glob(filepath.Join(root, "blobs", "sha256", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != live {
		t.Fatalf("the backend holds %d blob files, want the %d live ones", len(files), live)
	}
}
