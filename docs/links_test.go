// Package docs_test checks that the repository's Markdown documents point
// at things that exist: every relative link names a file or folder of the
// repository (and a heading, after #), and every Markdown file named in
// backticks is there.
package docs_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// documents are the Markdown files checked, relative to the repository.
var documents = []string{"README.md", "docs/ARCHITECTURE.md", "infra/README.md", "bench/README.md", "events/README.md"}

var (
	link     = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	mdInCode = regexp.MustCompile("`([A-Za-z0-9_./-]+\\.md)`")
	heading  = regexp.MustCompile(`(?m)^#{1,6} +(.+?) *$`)
	fence    = regexp.MustCompile("(?ms)^```.*?^```")
)

func TestDocumentLinksResolve(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range documents {
		b, err := os.ReadFile(filepath.Join(root, doc))
		if err != nil {
			t.Fatal(err)
		}
		text := fence.ReplaceAllString(string(b), "")
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			if target := m[1]; !strings.Contains(target, "://") && !strings.HasPrefix(target, "mailto:") {
				if problem := resolve(root, doc, target); problem != "" {
					t.Errorf("%s links to %s: %s", doc, target, problem)
				}
			}
		}
		for _, m := range mdInCode.FindAllStringSubmatch(text, -1) {
			if problem := resolve(root, doc, m[1]); problem != "" {
				t.Errorf("%s names %s: %s", doc, m[1], problem)
			}
		}
	}
}

// resolve returns what is wrong with target, a link in doc, or "".
func resolve(root, doc, target string) string {
	path, anchor, _ := strings.Cut(target, "#")
	file := filepath.Join(root, doc)
	if path != "" {
		file = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
		rel, err := filepath.Rel(root, file)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return "it is outside the repository"
		}
		if _, err := os.Stat(file); err != nil {
			return "no such file in the repository"
		}
	}
	if anchor == "" || !strings.HasSuffix(file, ".md") {
		return ""
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return err.Error()
	}
	for _, h := range heading.FindAllStringSubmatch(fence.ReplaceAllString(string(b), ""), -1) {
		if slug(h[1]) == anchor {
			return ""
		}
	}
	return "no heading makes the anchor #" + anchor
}

// slug is GitHub's anchor for a heading: lower case, punctuation dropped
// (but - and _), spaces as hyphens.
func slug(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127:
			b.WriteRune(r)
		}
	}
	return b.String()
}
