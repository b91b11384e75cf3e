package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/pycontainer/pycontainer/internal/cmdenv"
	"github.com/pycontainer/pycontainer/registry"
)

func newLoginCommand(env cmdenv.Env) *cobra.Command {
	stdout := env.Stdout
	var user string
	var passwordStdin, insecure bool
	cmd := &cobra.Command{
		Use:   "login REGISTRY -u USER --password-stdin",
		Short: "Check a registry login and store it the way docker login does",
		Long: `login checks USER and the password read from standard input against REGISTRY, then
stores them as docker login does: through the credential helper docker's config.json names
(credHelpers, credsStore), else in config.json's auths (DOCKER_CONFIG, else ~/.docker).
Builds and pushes of pycontainer, docker, skopeo and regctl then find them.`,
		Example: `  echo "$GITHUB_TOKEN" | pycontainer login ghcr.io -u "$GITHUB_ACTOR" --password-stdin`,
		Args:    usageArgs(cobra.ExactArgs(1), "name the registry, e.g. pycontainer login ghcr.io -u USER --password-stdin"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if user == "" {
				return usageError{errors.New("-u USER is required")}
			}
			if !passwordStdin {
				return usageError{errors.New("pass the password on standard input with --password-stdin (a password on the command line ends up in shell history)")}
			}
			pass, err := bufio.NewReader(env.Stdin).ReadString('\n')
			if err != nil && !errors.Is(err, io.EOF) {
				return fmt.Errorf("read the password from standard input: %w", err)
			}
			pass = strings.TrimRight(pass, "\r\n")
			if pass == "" {
				return usageError{errors.New("standard input held no password")}
			}
			// [registry] insecure of the project's files counts here too.
			insecure = insecure || slices.Contains(registrySettings(cmd, env).Insecure, args[0])
			where, err := registry.Login(cmd.Context(), args[0], user, pass, insecure, env.Getenv)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Login Succeeded: %s as %s (stored in %s)\n", args[0], user, where)
			return nil
		},
	}
	cmd.Flags().StringVarP(&user, "username", "u", "", "user name")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password (or token) from standard input")
	cmd.Flags().BoolVar(&insecure, "insecure", false, "plain HTTP (loopback registries always use it)")
	return cmd
}
