package main

import "ptrule/builtin/act"

// scanJSON is one line of `scan --format json`, as the tests decode it.
type scanJSON = act.Record
