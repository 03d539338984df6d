package cmd

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/dfsreg/dfsreg/internal/config"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check, describe and show the configuration",
		Long: `The configuration: built-in defaults, a YAML file (--config), DFSREG_*
environment variables (DFSREG_ and the key upper-cased, dots as underscores),
then flags. Unknown keys and variables are errors.

  dfsreg config verify FILE    check a file as serve reads it, and more strictly
  dfsreg config schema         the JSON Schema (draft 2020-12) of the file
  dfsreg config show           the effective configuration, secrets redacted`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newConfigVerifyCmd(), newConfigSchemaCmd(), newConfigShowCmd())
	return cmd
}

type configVerifyOptions struct {
	file string
}

func newConfigVerifyCmd() *cobra.Command {
	var o configVerifyOptions
	return &cobra.Command{
		Use:   "verify FILE",
		Short: "Check a configuration file; print ok and a summary, or every problem (exit 1)",
		Long: `Check FILE with the loader serve uses (DFSREG_* variables included), then
against the JSON Schema (a duration needs a unit: 90 would be 90ns) and the
checks outside the file (files and directories it names, address forms).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.file = args[0]
			return runConfigVerify(cmd.OutOrStdout(), o)
		},
	}
}

func runConfigVerify(w io.Writer, o configVerifyOptions) error {
	s, err := config.Verify(o.file)
	if err != nil {
		return err
	}
	c := s.Config
	fmt.Fprintf(w, "ok %s\n", s.File)
	fmt.Fprintf(w, "  listen   %s\n", c.Addr)
	fmt.Fprintf(w, "  root     %s\n", c.Root)
	fmt.Fprintf(w, "  backend  %s\n", c.Storage.Backend)
	fmt.Fprintf(w, "  file     %d key(s): %s\n", len(s.FileKeys), list(s.FileKeys))
	fmt.Fprintf(w, "  env      %d override(s): %s\n", len(s.EnvVars), list(s.EnvVars))
	return nil
}

func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ", ")
}

func newConfigSchemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "Print the JSON Schema (draft 2020-12) of the configuration file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runConfigSchema(cmd.OutOrStdout())
		},
	}
}

func runConfigSchema(w io.Writer) error {
	b, err := config.JSONSchema()
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

type configShowOptions struct {
	cf          *configFlags
	showSecrets bool
}

func newConfigShowCmd() *cobra.Command {
	var o configShowOptions
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Print the effective configuration as YAML (defaults, file, environment, flags), secrets redacted",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runConfigShow(cmd.OutOrStdout(), o)
		},
	}
	o.cf = addConfigFlags(cmd, "addr", "root", "log.level", "log.format")
	cmd.Flags().BoolVar(&o.showSecrets, "show-secrets", false, "print secrets instead of "+config.Redacted)
	return cmd
}

func runConfigShow(w io.Writer, o configShowOptions) error {
	c, err := o.cf.load()
	if err != nil {
		return err
	}
	if !o.showSecrets {
		*c = config.Redact(*c)
	}
	b, err := config.MarshalYAML(*c)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}
