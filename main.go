// Command dfsreg is an OCI registry with 2DFS partitions, and the tools that
// work on its store.
package main

import (
	"os"

	"github.com/dfsreg/dfsreg/cmd"
)

func main() { os.Exit(cmd.Main()) }
