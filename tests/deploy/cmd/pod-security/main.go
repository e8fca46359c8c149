// pod-security: evaluates every pod template in Kubernetes manifests against a Pod
// Security Standards level with k8s.io/pod-security-admission, the library the API
// server's PodSecurity admission plugin runs: the verdict a namespace labelled
// `pod-security.kubernetes.io/enforce: restricted` would give, without a cluster.
//
// Usage: pod-security [-level restricted] [-version latest] FILE_OR_DIR...
// Kinds with a pod template: Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job,
// CronJob. Other kinds are skipped; a file with no pod at all is an error (a check that
// saw nothing must not pass).
//
// SECURITY: reads local files only; no network.
// ERRORS: prints each forbidden finding as FILE: KIND/NAME: CHECK: reason, exits 1 when
// there is one; 2 for usage, unreadable or undecodable input.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

type pod struct {
	where    string // KIND/NAME
	metadata *metav1.ObjectMeta
	spec     *corev1.PodSpec
}

// podsIn decodes one YAML document; strict, so a field the API types lack is an error.
func podsIn(document []byte) ([]pod, error) {
	var head struct {
		Kind     string            `json:"kind"`
		Metadata metav1.ObjectMeta `json:"metadata"`
	}
	if err := yaml.Unmarshal(document, &head); err != nil {
		return nil, err
	}
	where := head.Kind + "/" + head.Metadata.Name
	decode := func(into any) error { return yaml.UnmarshalStrict(document, into) }
	switch head.Kind {
	case "Pod":
		var p corev1.Pod
		if err := decode(&p); err != nil {
			return nil, err
		}
		return []pod{{where, &p.ObjectMeta, &p.Spec}}, nil
	case "Deployment":
		var d appsv1.Deployment
		if err := decode(&d); err != nil {
			return nil, err
		}
		return []pod{{where, &d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec}}, nil
	case "StatefulSet":
		var s appsv1.StatefulSet
		if err := decode(&s); err != nil {
			return nil, err
		}
		return []pod{{where, &s.Spec.Template.ObjectMeta, &s.Spec.Template.Spec}}, nil
	case "DaemonSet":
		var d appsv1.DaemonSet
		if err := decode(&d); err != nil {
			return nil, err
		}
		return []pod{{where, &d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec}}, nil
	case "ReplicaSet":
		var r appsv1.ReplicaSet
		if err := decode(&r); err != nil {
			return nil, err
		}
		return []pod{{where, &r.Spec.Template.ObjectMeta, &r.Spec.Template.Spec}}, nil
	case "Job":
		var j batchv1.Job
		if err := decode(&j); err != nil {
			return nil, err
		}
		return []pod{{where, &j.Spec.Template.ObjectMeta, &j.Spec.Template.Spec}}, nil
	case "CronJob":
		var c batchv1.CronJob
		if err := decode(&c); err != nil {
			return nil, err
		}
		t := &c.Spec.JobTemplate.Spec.Template
		return []pod{{where, &t.ObjectMeta, &t.Spec}}, nil
	}
	return nil, nil
}

func manifestFiles(args []string) ([]string, error) {
	var files []string
	for _, arg := range args {
		info, err := os.Stat(arg)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, arg)
			continue
		}
		for _, pattern := range []string{"*.yaml", "*.yml"} {
			matches, _ := filepath.Glob(filepath.Join(arg, pattern))
			files = append(files, matches...)
		}
	}
	sort.Strings(files)
	return files, nil
}

func run(level api.Level, version api.Version, args []string, out io.Writer) (int, error) {
	evaluator, err := policy.NewEvaluator(policy.DefaultChecks())
	if err != nil {
		return 0, err
	}
	files, err := manifestFiles(args)
	if err != nil {
		return 0, err
	}
	findings, pods := 0, 0
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			return 0, err
		}
		reader := utilyaml.NewYAMLReader(bufioReader(raw))
		for {
			document, err := reader.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return 0, fmt.Errorf("%s: %w", file, err)
			}
			if len(bytes.TrimSpace(document)) == 0 {
				continue
			}
			found, err := podsIn(document)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", file, err)
			}
			for _, p := range found {
				pods++
				lv := api.LevelVersion{Level: level, Version: version}
				for _, result := range evaluator.EvaluatePod(lv, p.metadata, p.spec) {
					if result.Allowed {
						continue
					}
					findings++
					fmt.Fprintf(out, "%s: %s: %s: %s\n", file, p.where, result.ForbiddenReason,
						result.ForbiddenDetail)
				}
			}
		}
	}
	if pods == 0 {
		return 0, fmt.Errorf("no pod template in %s", strings.Join(args, " "))
	}
	fmt.Fprintf(os.Stderr, "pod-security: %d pod templates, %d findings at %s:%s\n", pods,
		findings, level, version.String())
	return findings, nil
}

func main() {
	levelName := flag.String("level", "restricted", "privileged, baseline or restricted")
	versionName := flag.String("version", "latest", "the policy version, e.g. v1.33, or latest")
	flag.Parse()
	level, err := api.ParseLevel(*levelName)
	if err == nil && flag.NArg() == 0 {
		err = errors.New("no manifest file or directory given")
	}
	var version api.Version
	if err == nil {
		version, err = api.ParseVersion(*versionName)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pod-security:", err)
		os.Exit(2)
	}
	findings, err := run(level, version, flag.Args(), os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pod-security:", err)
		os.Exit(2)
	}
	if findings > 0 {
		os.Exit(1)
	}
}

func bufioReader(raw []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(raw)) }
