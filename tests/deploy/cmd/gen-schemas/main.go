// gen-schemas: turns the Kubernetes OpenAPI v2 document (api/openapi-spec/swagger.json
// of the pinned k8s.io/kubernetes module) into the JSON schemas kubeconform reads, one
// standalone file per kind, named as kubeconform looks them up
// ({kind}-{group}-{version}.json; {kind}-{version}.json for the core group), and
// strict: every object that lists its properties refuses any other (a misspelled field
// fails validation instead of being ignored).
//
// Usage: gen-schemas SWAGGER_JSON OUTPUT_DIR
//
// SECURITY: reads one local file, writes files under OUTPUT_DIR only; no network.
// ERRORS: a message on stderr and exit status 1 (unreadable input, a $ref to a
// definition the document lacks, an unwritable output).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type schema = map[string]any

// Types the document spells as strings that YAML may also give as numbers, as
// kubeconform's own schema generator (openapi2jsonschema) treats them.
var stringOrNumber = map[string]schema{
	"io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"oneOf": []any{
		schema{"type": "string"}, schema{"type": "integer"}}},
	"io.k8s.apimachinery.pkg.api.resource.Quantity": {"oneOf": []any{
		schema{"type": "string"}, schema{"type": "number"}}},
}

type generator struct {
	definitions map[string]schema
	inProgress  map[string]bool // definitions being inlined: a cycle is left open
}

// inline returns a copy of s with every $ref replaced by its definition and every
// object with listed properties made strict.
func (g *generator) inline(s schema) (schema, error) {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/definitions/")
		if special, ok := stringOrNumber[name]; ok {
			return special, nil
		}
		def, ok := g.definitions[name]
		if !ok {
			return nil, fmt.Errorf("$ref to unknown definition %q", name)
		}
		if g.inProgress[name] {
			// A recursive type (JSONSchemaProps): its inner levels accept anything.
			return schema{}, nil
		}
		g.inProgress[name] = true
		defer delete(g.inProgress, name)
		out, err := g.inline(def)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if description, ok := s["description"]; ok {
			out["description"] = description
		}
		return out, nil
	}
	if s["format"] == "int-or-string" {
		return stringOrNumber["io.k8s.apimachinery.pkg.util.intstr.IntOrString"], nil
	}
	out := schema{}
	for key, value := range s {
		var err error
		switch key {
		case "properties":
			props := schema{}
			for name, sub := range value.(map[string]any) {
				if props[name], err = g.inline(sub.(map[string]any)); err != nil {
					return nil, fmt.Errorf("%s: %w", name, err)
				}
			}
			out[key] = props
		case "items", "additionalProperties":
			if sub, ok := value.(map[string]any); ok {
				if out[key], err = g.inline(sub); err != nil {
					return nil, err
				}
			} else {
				out[key] = value // a boolean additionalProperties
			}
		case "allOf", "anyOf", "oneOf":
			var list []any
			for _, sub := range value.([]any) {
				inlined, err := g.inline(sub.(map[string]any))
				if err != nil {
					return nil, err
				}
				list = append(list, inlined)
			}
			out[key] = list
		default:
			out[key] = value
		}
	}
	if _, listed := out["properties"]; listed {
		if _, open := out["additionalProperties"]; !open {
			out["additionalProperties"] = false
		}
	}
	return out, nil
}

// fileName is kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}.json for a kind.
func fileName(group, version, kind string) string {
	suffix := "-" + strings.ToLower(version)
	if group != "" {
		suffix = "-" + strings.ToLower(strings.Split(group, ".")[0]) + suffix
	}
	return strings.ToLower(kind) + suffix + ".json"
}

func run(swaggerPath, outputDir string) (int, error) {
	raw, err := os.ReadFile(swaggerPath)
	if err != nil {
		return 0, err
	}
	var document struct {
		Definitions map[string]schema `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &document); err != nil {
		return 0, fmt.Errorf("%s: %w", swaggerPath, err)
	}
	if len(document.Definitions) == 0 {
		return 0, fmt.Errorf("%s: no definitions", swaggerPath)
	}
	if err := os.MkdirAll(outputDir, 0o755); err != nil {
		return 0, err
	}
	names := make([]string, 0, len(document.Definitions))
	for name := range document.Definitions {
		names = append(names, name)
	}
	sort.Strings(names) // the same output for the same input
	g := generator{definitions: document.Definitions, inProgress: map[string]bool{}}
	written := map[string]bool{}
	for _, name := range names {
		def := document.Definitions[name]
		kinds, _ := def["x-kubernetes-group-version-kind"].([]any)
		for _, k := range kinds {
			gvk := k.(map[string]any)
			group, _ := gvk["group"].(string)
			version, _ := gvk["version"].(string)
			kind, _ := gvk["kind"].(string)
			file := fileName(group, version, kind)
			if written[file] {
				continue
			}
			inlined, err := g.inline(def)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", name, err)
			}
			encoded, err := json.MarshalIndent(inlined, "", " ")
			if err != nil {
				return 0, err
			}
			if err := os.WriteFile(filepath.Join(outputDir, file), encoded, 0o644); err != nil {
				return 0, err
			}
			written[file] = true
		}
	}
	return len(written), nil
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gen-schemas SWAGGER_JSON OUTPUT_DIR")
		os.Exit(2)
	}
	n, err := run(os.Args[1], os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen-schemas:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "gen-schemas: %d schemas in %s\n", n, os.Args[2])
}
