package encode

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/klauspost/pgzip"
)

// ReadObject decodes a data object written by pg2s3 into rows in the
// JSON contract's form (numbers as json.Number), whatever its format; key
// tells the format by its extension (.jsonl.gz or .parquet). Both formats
// of the same rows decode alike, except where Parquet's types hold less:
// NaN in a numeric(p,s) column (a Parquet DECIMAL) reads back as null. It reads the object whole: data
// objects are bounded by the batch size.
func ReadObject(key string, body []byte) ([]map[string]any, error) {
	switch {
	case strings.HasSuffix(key, ".jsonl.gz"):
		return readJSONLines(body)
	case strings.HasSuffix(key, ".parquet"):
		rows, err := readParquet(body)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
		return rows, nil
	}
	return nil, fmt.Errorf("read %s: not a pg2s3 data object (want .jsonl.gz or .parquet)", key)
}

func readJSONLines(body []byte) ([]map[string]any, error) {
	zr, err := pgzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("gunzip: %w", err)
	}
	defer zr.Close()
	var rows []map[string]any
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 64<<10), 1<<30)
	for sc.Scan() {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return nil, fmt.Errorf("line %d: %w", len(rows)+1, err)
		}
		rows = append(rows, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", len(rows)+1, err)
	}
	return rows, nil
}
