package encode

import "fmt"

// appendHstore converts hstore's text form ("a"=>"1", "b"=>NULL) into a JSON
// object of strings (and nulls).
func appendHstore(dst []byte, text []byte) ([]byte, error) {
	dst = append(dst, '{')
	i := 0
	var buf []byte
	first := true
	for {
		for i < len(text) && (text[i] == ' ' || text[i] == ',') {
			i++
		}
		if i >= len(text) {
			return append(dst, '}'), nil
		}
		var key []byte
		var err error
		key, i, err = hstoreToken(text, i, &buf)
		if err != nil {
			return dst, fmt.Errorf("hstore: %w", err)
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = AppendString(dst, key)
		dst = append(dst, ':')
		if i+2 > len(text) || text[i] != '=' || text[i+1] != '>' {
			return dst, fmt.Errorf("hstore: expected => at %d", i)
		}
		i += 2
		if i+4 <= len(text) && string(text[i:i+4]) == "NULL" {
			dst = append(dst, "null"...)
			i += 4
			continue
		}
		var val []byte
		val, i, err = hstoreToken(text, i, &buf)
		if err != nil {
			return dst, fmt.Errorf("hstore: %w", err)
		}
		dst = AppendString(dst, val)
	}
}

// hstoreToken reads a double-quoted token with backslash escapes.
func hstoreToken(s []byte, i int, buf *[]byte) ([]byte, int, error) {
	if i >= len(s) || s[i] != '"' {
		return nil, i, fmt.Errorf("expected '\"' at %d", i)
	}
	i++
	b := (*buf)[:0]
	for i < len(s) {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				b = append(b, s[i+1])
			}
			i += 2
		case '"':
			*buf = b
			return b, i + 1, nil
		default:
			b = append(b, s[i])
			i++
		}
	}
	return nil, i, fmt.Errorf("unterminated token")
}
