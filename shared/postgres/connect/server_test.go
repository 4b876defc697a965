package connect

import (
	"strings"
	"testing"
)

func TestParseLibraryList(t *testing.T) {
	for in, want := range map[string]string{
		"pgoutput, test_decoding":                "pgoutput|test_decoding",
		"pgoutput,test_decoding, wal2json":       "pgoutput|test_decoding|wal2json",
		`"pgoutput, test_decoding, wal2json"`:    "pgoutput, test_decoding, wal2json", // one element, as a mis-quoted ALTER SYSTEM leaves it
		`pgoutput, "$libdir/my ""odd"" decoder"`: `pgoutput|$libdir/my "odd" decoder`,
		"":                                       "",
	} {
		if got := strings.Join(parseLibraryList(in), "|"); got != want {
			t.Errorf("parseLibraryList(%q) = %q, want %q", in, got, want)
		}
	}
}

// The allow-list is decided from what DetectServer read: these are the
// servers this machine cannot start (minors before the allow-list, RDS).
func TestServerGates(t *testing.T) {
	older := Server{Version: 150018} // 15.18: no output_plugin_libraries
	if !older.PluginAllowed("wal2json") {
		t.Errorf("a server without an allow-list admits every plugin: %+v", older)
	}
	byPath := Server{Version: 160010, HasAllowList: true, AllowList: []string{"pgoutput", "$libdir/wal2json.so"}}
	if !byPath.PluginAllowed("wal2json") {
		t.Error("a library named by path is allowed")
	}
	rds := Server{Version: 150020, RDS: true, HasAllowList: true, AllowList: []string{"pgoutput", "test_decoding"}}
	if fe := rds.PluginNotAllowed("wal2json"); !strings.Contains(fe.Fix, "DB parameter group") || strings.Contains(fe.Fix, "ALTER SYSTEM") || !strings.Contains(fe.Fix, "use pgoutput") {
		t.Errorf("RDS fix: %s", fe.Fix)
	}
	if fe := pluginNotAllowed("wal2json", nil, false); !strings.Contains(fe.Fix, "SHOW output_plugin_libraries") || !strings.Contains(fe.Fix, "'pgoutput', 'test_decoding', 'wal2json'") {
		t.Errorf("fix when the list could not be read: %s", fe.Fix)
	}
}
