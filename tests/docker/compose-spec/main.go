// compose-spec: loads docker-compose.yml with compose-go, the loader Docker Compose v2
// (`docker compose`) itself uses: the file is checked against the Compose
// Specification's schema, interpolated, and its references (depends_on, volumes,
// anchors) resolved, as `docker compose config` would. Debian ships only Compose v1,
// so this is how the offline checks hold the file to v2 as well.
//
// Usage: compose-spec FILE
//
// SECURITY: reads the file (and the process environment, for interpolation, as Compose
// does); no network, no engine.
// ERRORS: the loader's message on stderr and exit status 1.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: compose-spec FILE")
		os.Exit(2)
	}
	options, err := cli.NewProjectOptions([]string{os.Args[1]}, cli.WithOsEnv,
		cli.WithName("smtp-sidecar"))
	if err == nil {
		var names []string
		project, loadErr := options.LoadProject(context.Background())
		if err = loadErr; err == nil {
			for name := range project.Services {
				names = append(names, name)
			}
			sort.Strings(names)
			fmt.Fprintf(os.Stderr, "compose-spec: %s is valid for Compose v2: %d services (%s)\n",
				os.Args[1], len(names), strings.Join(names, ", "))
			return
		}
	}
	fmt.Fprintln(os.Stderr, "compose-spec:", err)
	os.Exit(1)
}
