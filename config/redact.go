package config

import "reflect"

// Redact returns a deep copy of c in which every non-empty secret field (a kiln tag with
// secret, on the field or above it: the join token and the CA keys) reads "(redacted)".
// It is the one place that decides what a config shows outside the node: the API, events
// and logs show Redact's result, never c. c is left unchanged; Redact(nil) is nil. An
// empty secret stays empty, so a reader still sees that a worker holds no CA key.
func Redact(c *Config) *Config {
	if c == nil {
		return nil
	}
	out := new(Config)
	copyRedacted(reflect.ValueOf(out).Elem(), reflect.ValueOf(c).Elem(), fieldClass{})
	return out
}

// copyRedacted copies src into dst, allocating new slices and maps so that the copy
// shares nothing with src.
func copyRedacted(dst, src reflect.Value, class fieldClass) {
	switch src.Kind() {
	case reflect.Struct:
		for i := range src.NumField() {
			copyRedacted(dst.Field(i), src.Field(i), fieldClassOf(class, src.Type().Field(i)))
		}
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		dst.Set(reflect.MakeSlice(src.Type(), src.Len(), src.Len()))
		for i := range src.Len() {
			copyRedacted(dst.Index(i), src.Index(i), class)
		}
	case reflect.Map:
		copyRedactedMap(dst, src, class)
	default:
		copyRedactedScalar(dst, src, class)
	}
}

func copyRedactedMap(dst, src reflect.Value, class fieldClass) {
	if src.IsNil() {
		return
	}
	dst.Set(reflect.MakeMapWithSize(src.Type(), src.Len()))
	for entry := src.MapRange(); entry.Next(); {
		value := reflect.New(src.Type().Elem()).Elem()
		copyRedacted(value, entry.Value(), class)
		dst.SetMapIndex(entry.Key(), value)
	}
}

// copyRedactedScalar copies a scalar, or hides it when secret. Only strings may be tagged
// secret (the type test checks); any other secret scalar is left zero rather than shown.
func copyRedactedScalar(dst, src reflect.Value, class fieldClass) {
	switch {
	case !class.secret:
		dst.Set(src)
	case src.Kind() == reflect.String && src.String() != "":
		dst.SetString(redacted)
	}
}
