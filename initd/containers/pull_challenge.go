package containers

import (
	"fmt"
	"strings"
)

// parseChallenge parses the first challenge of a WWW-Authenticate header (RFC 9110
// §11.6.1 and §11.2): an auth-scheme, then auth-params name=value (a token or a quoted
// string) separated by commas. The scheme and the parameter names come back lowercase
// (both are case-insensitive); a following challenge, if any, is ignored.
func parseChallenge(h string) (scheme string, params map[string]string, err error) {
	s := strings.TrimLeft(h, " \t")
	scheme, s = cutToken(s)
	if scheme == "" {
		return "", nil, fmt.Errorf("WWW-Authenticate %q: no auth scheme", h)
	}
	params = map[string]string{}
	for {
		s = strings.TrimLeft(s, " \t,")
		if s == "" {
			return strings.ToLower(scheme), params, nil
		}
		var name string
		name, s = cutToken(s)
		s = strings.TrimLeft(s, " \t")
		if name == "" || !strings.HasPrefix(s, "=") {
			if name != "" && len(params) > 0 { // the next challenge's scheme
				return strings.ToLower(scheme), params, nil
			}
			return "", nil, fmt.Errorf("WWW-Authenticate %q: want name=value parameters after %q", h, scheme)
		}
		s = strings.TrimLeft(s[1:], " \t")
		var value string
		if strings.HasPrefix(s, `"`) {
			value, s, err = cutQuoted(s)
			if err != nil {
				return "", nil, fmt.Errorf("WWW-Authenticate %q: %s: %w", h, name, err)
			}
		} else {
			value, s = cutToken(s)
		}
		params[strings.ToLower(name)] = value
	}
}

// cutToken splits off a leading token (RFC 9110 §5.6.2 tchar).
func cutToken(s string) (token, rest string) {
	i := 0
	for i < len(s) && isTchar(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

func isTchar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// cutQuoted splits off a leading quoted-string (RFC 9110 §5.6.4), unescaping it.
func cutQuoted(s string) (value, rest string, err error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			if i+1 == len(s) {
				return "", "", fmt.Errorf("unterminated quoted string")
			}
			i++
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return "", "", fmt.Errorf("unterminated quoted string")
}
