// Extracts fields from webhook payloads without unmarshalling them, as a router would;
// malformed payloads must come back as errors.
package main

import (
	"fmt"

	"github.com/buger/jsonparser"
)

func main() {
	payloads := []string{
		`{"user": {"name": "ada", "tags": ["a", "b"]}, "n": 3}`,
		`"just a string"`,
		`   `,
		`{"broken": "unterminated}`,
	}
	for _, p := range payloads {
		v, t, _, err := jsonparser.Get([]byte(p), "user", "name")
		fmt.Printf("user.name: %q %v %v\n", v, t, err)
		v, t, _, err = jsonparser.Get([]byte(p))
		fmt.Printf("whole: %q %v %v\n", v, t, err)
	}
}
