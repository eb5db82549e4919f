// Package reporules holds the repository's rules as tests (every package has a package
// doc, the builder never imports the node), so that a rule broken in review fails CI
// instead of waiting for a reader to notice. It has no code of its own.
package reporules
