// Resolves chart dependency ranges against the versions a repository offers, as a package
// manager would.
package main

import (
	"fmt"
	"sort"

	"github.com/Masterminds/semver"
)

func main() {
	raw := []string{"1.2.0", "1.3.0-alpha.1", "1.3.0-alpha", "1.10.1", "2.0.0", "v1.4"}
	vs := make([]*semver.Version, 0, len(raw))
	for _, r := range raw {
		v, err := semver.NewVersion(r)
		if err != nil {
			fmt.Println("skip", r, err)
			continue
		}
		vs = append(vs, v)
	}
	sort.Sort(semver.Collection(vs))
	fmt.Println(vs)
	a, b := semver.MustParse("1.3.0-alpha.1"), semver.MustParse("1.3.0-alpha")
	fmt.Println("compare", a.Compare(b), b.Compare(a))
	for _, rng := range []string{"^1.2.0", "~1.3", ">= 1.4, < 2"} {
		c, err := semver.NewConstraint(rng)
		if err != nil {
			fmt.Println("bad range", rng, err)
			continue
		}
		for _, v := range vs {
			if c.Check(v) {
				fmt.Println(rng, "accepts", v)
			}
		}
	}
}
