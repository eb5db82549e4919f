// Package reporules holds the repository's rules as tests (every package has a package
// doc; the builder and the node import each other only through shared leaves), so that a
// rule broken in review fails CI instead of waiting for a reader to notice.
//
// Its one piece of code is the import rule: Kiln, the layout with the one list of shared
// leaves (DESIGN.md "Layout" points here), and the checker that walks the import graph
// parsed from the source. The checker is code rather than test code so that its own test
// can run it on a fixture tree (testdata/layers) and watch it fail. It imports nothing of
// Kiln and touches nothing outside the tree it is pointed at.
package reporules
