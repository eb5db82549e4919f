// Package kspp is a shared leaf of the fixture.
package kspp
