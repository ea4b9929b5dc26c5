// Orders release tags and rejects malformed ones, as a deploy tool would.
package main

import (
	"fmt"
	"sort"

	"github.com/blang/semver"
)

func main() {
	tags := []string{"1.2.3", "1.2.3-rc.1", "1.2.3-rc.1.extra", "1.10.0", "1.2", "v2"}
	var vs []semver.Version
	for _, t := range tags {
		v, err := semver.Parse(t)
		if err != nil {
			fmt.Println("skip", t, ":", err)
			if v2, err2 := semver.ParseTolerant(t); err2 == nil {
				vs = append(vs, v2)
			}
			continue
		}
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i].LT(vs[j]) })
	fmt.Println(vs)
}
