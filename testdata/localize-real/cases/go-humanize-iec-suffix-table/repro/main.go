// Prints a disk-usage report with human-readable sizes and counts, as a CLI would.
package main

import (
	"fmt"
	"math"

	humanize "github.com/dustin/go-humanize"
)

func main() {
	for _, n := range []uint64{5, 82854982, 1 << 40, math.MaxUint64} {
		fmt.Println(humanize.Bytes(n), humanize.IBytes(n))
	}
	for _, n := range []int64{0, -1234, 1234567, math.MaxInt64} {
		fmt.Println(humanize.Comma(n))
	}
	fmt.Println(humanize.Ordinal(22), humanize.Ftoa(2.500))
}
