package jsonstr

import (
	"encoding/json"
	"errors"
	"testing"
)

// Append with ReplaceInvalid decodes as encoding/json does; with
// KeepInvalid it differs only in keeping bytes that are not UTF-8.
func TestAppend(t *testing.T) {
	for _, tc := range []struct {
		body, keep string
	}{
		{`plain`, "plain"},
		{`q\"b\\s\/\b\f\n\r\t`, "q\"b\\s/\b\f\n\r\t"},
		{`\u00e9\u20AC`, "é€"},
		{`\ud83d\ude00 pair`, "😀 pair"},
		{`\ud83d alone`, "\ufffd alone"},
		{`\ude00\ud83d`, "\ufffd\ufffd"},
		{`\ud83d\u0041`, "\ufffdA"},
		{"bad \xff utf8 é", "bad \xff utf8 é"},
		{"\xe2\x82", "\xe2\x82"},
	} {
		keep, err := Append([]byte("<"), []byte(tc.body), KeepInvalid)
		if err != nil || string(keep) != "<"+tc.keep {
			t.Errorf("%q keep: %q %v, want %q", tc.body, keep, err, tc.keep)
		}
		var want string
		if err := json.Unmarshal([]byte(`"`+tc.body+`"`), &want); err != nil {
			t.Fatal(err)
		}
		got, err := Append(nil, []byte(tc.body), ReplaceInvalid)
		if err != nil || string(got) != want {
			t.Errorf("%q replace: %q %v, encoding/json %q", tc.body, got, err, want)
		}
	}
}

func TestEscapeErrors(t *testing.T) {
	for _, tc := range []struct {
		body    string
		problem Problem
		text    string
		before  string
	}{
		{`ab\`, Truncated, "unterminated escape", "ab"},
		{`a\u12`, BadUnicode, `\u not followed by four hex digits`, "a"},
		{`a\u12G4`, BadUnicode, `\u not followed by four hex digits`, "a"},
		{`\ud83d\uZZZZ`, BadUnicode, `\u not followed by four hex digits`, "\ufffd"},
		{`a\x`, Unknown, `invalid escape "\\x"`, "a"},
	} {
		got, err := Append(nil, []byte(tc.body), KeepInvalid)
		var e *EscapeError
		if !errors.As(err, &e) || e.Problem != tc.problem || err.Error() != tc.text || string(got) != tc.before {
			t.Errorf("%q: %q %v, want %q and %q", tc.body, got, err, tc.before, tc.text)
		}
	}
	if n, err := EscapeLen([]byte(`\u0041rest`)); n != 6 || err != nil {
		t.Errorf(`\u0041: %d %v`, n, err)
	}
	if n, err := EscapeLen([]byte(`\nrest`)); n != 2 || err != nil {
		t.Errorf(`\n: %d %v`, n, err)
	}
}
