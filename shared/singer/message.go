package singer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"strconv"
)

// writer writes Singer messages, one JSON object a line, with their keys
// in the order singer-python writes them. Values are encoded without
// HTML escaping and numbers keep their text (json.Number).
type writer struct {
	out       *bufio.Writer
	buf       bytes.Buffer
	enc       *json.Encoder // encodes into buf
	n         Counts
	lastState []byte // the last STATE line, not repeated
}

// Counts are the messages a replay wrote, by type.
type Counts struct {
	Schemas, Records, Activations, States int64
}

func newWriter(w io.Writer) *writer {
	mw := &writer{out: bufio.NewWriterSize(w, 256<<10)}
	mw.enc = json.NewEncoder(&mw.buf)
	mw.enc.SetEscapeHTML(false)
	return mw
}

// value appends v's JSON to the line being built.
func (w *writer) value(v any) error {
	if err := w.enc.Encode(v); err != nil {
		return err
	}
	w.buf.Truncate(w.buf.Len() - 1) // Encode ends with a newline
	return nil
}

// line ends the message being built and hands it to the output.
func (w *writer) line() error {
	w.buf.WriteByte('\n')
	_, err := w.out.Write(w.buf.Bytes())
	w.buf.Reset()
	return err
}

// schema writes {"type":"SCHEMA","stream","schema","key_properties","bookmark_properties"}.
func (w *writer) schema(s *schemaMsg) error {
	w.buf.WriteString(`{"type":"SCHEMA","stream":`)
	if err := w.value(s.stream); err != nil {
		return err
	}
	w.buf.WriteString(`,"schema":`)
	if err := w.value(s.schema); err != nil {
		return err
	}
	w.buf.WriteString(`,"key_properties":`)
	if err := w.value(nonNil(s.keys)); err != nil {
		return err
	}
	w.buf.WriteString(`,"bookmark_properties":`)
	if err := w.value(nonNil(s.bookmarks)); err != nil {
		return err
	}
	w.buf.WriteByte('}')
	w.n.Schemas++
	return w.line()
}

// record writes {"type":"RECORD","stream","record","version","time_extracted"}.
func (w *writer) record(stream string, rec map[string]any, version int64, extracted string) error {
	w.buf.WriteString(`{"type":"RECORD","stream":`)
	if err := w.value(stream); err != nil {
		return err
	}
	w.buf.WriteString(`,"record":`)
	if err := w.value(rec); err != nil {
		return err
	}
	w.buf.WriteString(`,"version":`)
	w.buf.WriteString(strconv.FormatInt(version, 10))
	if extracted != "" {
		w.buf.WriteString(`,"time_extracted":`)
		if err := w.value(extracted); err != nil {
			return err
		}
	}
	w.buf.WriteByte('}')
	w.n.Records++
	return w.line()
}

// activate writes {"type":"ACTIVATE_VERSION","stream","version"}.
func (w *writer) activate(stream string, version int64) error {
	w.buf.WriteString(`{"type":"ACTIVATE_VERSION","stream":`)
	if err := w.value(stream); err != nil {
		return err
	}
	w.buf.WriteString(`,"version":`)
	w.buf.WriteString(strconv.FormatInt(version, 10))
	w.buf.WriteByte('}')
	w.n.Activations++
	return w.line()
}

// state writes {"type":"STATE","value":{"currently_syncing","bookmarks"}},
// unless it would repeat the last STATE word for word.
func (w *writer) state(st *State) error {
	w.buf.WriteString(`{"type":"STATE","value":`)
	if err := w.value(st); err != nil {
		return err
	}
	w.buf.WriteByte('}')
	if bytes.Equal(w.buf.Bytes(), w.lastState) {
		w.buf.Reset()
		return nil
	}
	w.lastState = append(w.lastState[:0], w.buf.Bytes()...)
	w.n.States++
	return w.line()
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
