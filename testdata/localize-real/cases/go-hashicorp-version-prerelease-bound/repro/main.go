// Checks provider versions against constraints and prints their release cores, as an
// infrastructure tool's lock step would.
package main

import (
	"fmt"

	version "github.com/hashicorp/go-version"
)

func main() {
	c, err := version.NewConstraint(">= 1.2, < 2.0")
	if err != nil {
		panic(err)
	}
	for _, raw := range []string{"1.2.0", "1.5.0-beta.1", "1.5.0-beta", "1.9", "2.0.0", "v1.3"} {
		v, err := version.NewVersion(raw)
		if err != nil {
			fmt.Println("bad version", raw, err)
			continue
		}
		fmt.Println(raw, "core", v.Core(), "ok", c.Check(v))
	}
	a, _ := version.NewVersion("1.5.0-beta.1")
	b, _ := version.NewVersion("1.5.0-beta")
	fmt.Println("compare", a.Compare(b))
}
