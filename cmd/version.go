package cmd

import (
	"encoding/json"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/dfsreg/dfsreg/internal/buildinfo"
)

type versionOptions struct {
	json bool
}

func newVersionCmd() *cobra.Command {
	var o versionOptions
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, build date and Go version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVersion(cmd.OutOrStdout(), o, buildinfo.Get())
		},
	}
	cmd.Flags().BoolVar(&o.json, "json", false, "print JSON")
	return cmd
}

func runVersion(w io.Writer, o versionOptions, in buildinfo.Info) error {
	if o.json {
		e := json.NewEncoder(w)
		e.SetIndent("", "  ")
		return e.Encode(in)
	}
	fmt.Fprintf(w, "dfsreg %s\n", in.Version)
	if in.Commit != "" {
		dirty := ""
		if in.Modified {
			dirty = " (modified)"
		}
		fmt.Fprintf(w, "commit %s%s\n", in.Commit, dirty)
	}
	if in.Date != "" {
		fmt.Fprintf(w, "built %s\n", in.Date)
	}
	fmt.Fprintf(w, "%s %s\n", in.GoVersion, in.Platform)
	return nil
}
