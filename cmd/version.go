package cmd

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// Set at release time with -ldflags "-X github.com/dfsreg/dfsreg/cmd.version=..."
var (
	version = "dev"
	commit  = ""
	date    = ""
)

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, d := commit, date
			if bi, ok := debug.ReadBuildInfo(); ok && c == "" {
				for _, s := range bi.Settings {
					switch s.Key {
					case "vcs.revision":
						c = s.Value
					case "vcs.time":
						d = s.Value
					}
				}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "dfsreg %s\n", version)
			if c != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "commit %s\n", c)
			}
			if d != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "built %s\n", d)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}
