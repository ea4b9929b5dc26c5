// Re-emits access-log records as logfmt and parses a few back, as a log shipper would.
package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/go-logfmt/logfmt"
)

func main() {
	enc := logfmt.NewEncoder(os.Stdout)
	_ = enc.EncodeKeyvals("method", "GET", "path", "/a b", "status", 200)
	_ = enc.EndRecord()
	_ = enc.EncodeKeyvals("msg", "odd number of fields", "dangling")
	_ = enc.EndRecord()

	dec := logfmt.NewDecoder(strings.NewReader("a=1 b=\"two words\" c\nempty= d=4\nlast="))
	for dec.ScanRecord() {
		for dec.ScanKeyval() {
			fmt.Printf("%s=%q ", dec.Key(), dec.Value())
		}
		fmt.Println()
	}
	fmt.Println("err:", dec.Err())
}
