// Package cmd holds dfsreg's commands: flags, configuration and rendering
// only; the work lives in internal/.
package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/dfsreg/dfsreg/internal/config"
)

// Main runs dfsreg with os.Args and returns the exit code.
func Main() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := NewRootCmd(os.Stdout, os.Stderr)
	root.SetArgs(os.Args[1:])
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "dfsreg:", err)
		var ee exitError
		if errors.As(err, &ee) {
			return int(ee)
		}
		return 1
	}
	return 0
}

type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// NewRootCmd builds the command tree writing results to stdout and
// diagnostics to stderr.
func NewRootCmd(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "dfsreg",
		Short:         "An OCI registry that serves any rectangle of a 2DFS image on demand",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newServeCmd(), newVersionCmd(), newPartitionCmd(), newFlattenCmd())
	root.AddCommand(newGCCmd())
	root.AddCommand(newInspectCmd())
	root.AddCommand(newPushCmd())
	root.AddCommand(newConfigCmd())
	return root
}

// configFlags are the flags every store-using command shares, and the config
// keys they set.
type configFlags struct {
	file  string
	flags map[string]*pflag.Flag
}

func addConfigFlags(cmd *cobra.Command, keys ...string) *configFlags {
	cf := &configFlags{flags: map[string]*pflag.Flag{}}
	fs := cmd.Flags()
	fs.StringVar(&cf.file, "config", "", "YAML configuration file")
	def := config.Defaults()
	help := map[string]struct {
		flag, usage string
		value       string
	}{
		"addr":       {"addr", "listen address HOST:PORT (" + config.EnvName("addr") + ")", def.Addr},
		"root":       {"root", "store directory (" + config.EnvName("root") + ")", def.Root},
		"log.level":  {"log-level", "log level: debug, info, warn, error", def.Log.Level},
		"log.format": {"log-format", "log format: text or json", def.Log.Format},

		"tls.cert_file":      {"tls-cert", "TLS certificate file (PEM); serve speaks HTTPS with it", ""},
		"tls.key_file":       {"tls-key", "TLS private key file (PEM)", ""},
		"tls.client_ca_file": {"tls-client-ca", "CA file (PEM) client certificates must chain to (mTLS)", ""},
	}
	help["auth.htpasswd.path"] = struct{ flag, usage, value string }{"htpasswd", "htpasswd file (bcrypt): require HTTP Basic authentication (" + config.EnvName("auth.htpasswd.path") + ")", ""}
	for _, k := range keys {
		h := help[k]
		fs.String(h.flag, h.value, h.usage)
		cf.flags[k] = fs.Lookup(h.flag)
	}
	return cf
}

// load reads the configuration, letting only flags the user set override.
func (cf *configFlags) load() (*config.Config, error) {
	set := map[string]*pflag.Flag{}
	for k, f := range cf.flags {
		if f.Changed {
			set[k] = f
		}
	}
	return config.Load(cf.file, set)
}

func newLogger(w io.Writer, c *config.Config) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(c.Log.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
