package cmd

import (
	"github.com/spf13/cobra"
)

func newFlattenCmd() *cobra.Command {
	o := &offlineOpts{flatten: true}
	cmd := &cobra.Command{
		Use:   "flatten REF",
		Short: "Turn a whole 2DFS image into a plain OCI image, offline",
		Long: `Flatten a 2DFS image: the base layers plus every allotment of its field,
as a plain OCI image that any runtime can pull and run. This is the
partition of the rectangle covering the whole field, so its digest is the
one serve answers for TAG--0.0.R.C with R and C at or beyond the field's
last row and column. The store may be in use by "dfsreg serve".

` + offlineRefHelp,
		Example: `  dfsreg flatten --root /srv/dfsreg fixture/dense:v1 --tag v1-full
  dfsreg flatten oci:./tdfs-image:v1 -o ./flat:v1
  dfsreg flatten oci:./tdfs-export --json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runOffline(cmd, args[0], o)
		},
	}
	addOfflineFlags(cmd, o)
	return cmd
}
