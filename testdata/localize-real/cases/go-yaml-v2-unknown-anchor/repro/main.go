// Loads service definitions with anchors and merge keys, as a deploy tool would; a bad file must
// come back as an error.
package main

import (
	"fmt"

	yaml "gopkg.in/yaml.v2"
)

type Service struct {
	Image    string            `yaml:"image"`
	Replicas int               `yaml:"replicas"`
	Env      map[string]string `yaml:"env"`
}

func main() {
	docs := []string{
		"base: &base {image: app:1, replicas: 2}\nweb:\n  <<: *base\n  replicas: 4\n",
		"web: {image: app:2, env: {MODE: prod}}\n",
		"web: *undefined\n",
	}
	for _, d := range docs {
		var out map[string]Service
		if err := yaml.Unmarshal([]byte(d), &out); err != nil {
			fmt.Println("rejected:", err)
			continue
		}
		fmt.Printf("%+v\n", out)
	}
}
