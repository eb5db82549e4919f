// Package initd is a fixture: a path named by node-side code is a path on the node.
package initd

const nodePath = "/sbin/init"
