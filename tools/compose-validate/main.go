// compose-validate loads a compose file the way `docker compose` does (the compose-spec loader,
// github.com/compose-spec/compose-go/v2: schema validation, interpolation, env_file, normalization)
// and prints a JSON summary of what it loaded: per service its image, published ports and the names
// (never the values) of its environment variables, and which of them are empty. Exit 1 with the loader's message when the file is
// refused. Built by scripts/setup.sh from the Go module proxy; used by tests/integration/test_compose_loader.py.
//
// Usage: compose-validate --project-name NAME COMPOSE_FILE
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/compose-spec/compose-go/v2/cli"
)

type port struct {
	HostIP    string `json:"host_ip"`
	Published string `json:"published"`
	Target    uint32 `json:"target"`
	Protocol  string `json:"protocol"`
}

type service struct {
	Image    string   `json:"image"`
	Ports    []port   `json:"ports"`
	EnvKeys  []string `json:"env_keys"`
	EnvEmpty []string `json:"env_empty"`
	Networks []string `json:"networks"`
	Volumes  []string `json:"volumes"`
}

type summary struct {
	Name     string             `json:"name"`
	Services map[string]service `json:"services"`
	Networks []string           `json:"networks"`
}

func main() {
	name := flag.String("project-name", "", "compose project name")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: compose-validate --project-name NAME COMPOSE_FILE")
		os.Exit(2)
	}
	file, err := filepath.Abs(flag.Arg(0))
	if err != nil {
		fail(err)
	}
	options := []cli.ProjectOptionsFn{cli.WithWorkingDirectory(filepath.Dir(file)), cli.WithResolvedPaths(true)}
	if *name != "" {
		options = append(options, cli.WithName(*name))
	}
	opts, err := cli.NewProjectOptions([]string{file}, options...)
	if err != nil {
		fail(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		fail(err)
	}
	out := summary{Name: project.Name, Services: map[string]service{}}
	for net := range project.Networks {
		out.Networks = append(out.Networks, net)
	}
	sort.Strings(out.Networks)
	for svcName, svc := range project.Services {
		s := service{Image: svc.Image, Ports: []port{}, EnvKeys: []string{}, EnvEmpty: []string{}, Networks: []string{},
			Volumes: []string{}}
		for _, p := range svc.Ports {
			s.Ports = append(s.Ports, port{HostIP: p.HostIP, Published: p.Published, Target: p.Target, Protocol: p.Protocol})
		}
		for key, value := range svc.Environment {
			s.EnvKeys = append(s.EnvKeys, key)
			if value == nil || *value == "" {
				s.EnvEmpty = append(s.EnvEmpty, key)
			}
		}
		sort.Strings(s.EnvKeys)
		sort.Strings(s.EnvEmpty)
		for net := range svc.Networks {
			s.Networks = append(s.Networks, net)
		}
		sort.Strings(s.Networks)
		for _, v := range svc.Volumes {
			s.Volumes = append(s.Volumes, v.Source+":"+v.Target)
		}
		out.Services[svcName] = s
	}
	encoded, err := json.MarshalIndent(out, "", " ")
	if err != nil {
		fail(err)
	}
	fmt.Println(string(encoded))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "compose-validate:", err)
	os.Exit(1)
}
