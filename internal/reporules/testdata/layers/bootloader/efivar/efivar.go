// Forbidden: a shared leaf that reaches the rest of its side is no leaf.
package efivar

import "example.com/fixture/measure/pcr"
