// Package events is a shared leaf of the node side.
package events
