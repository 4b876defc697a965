package testenv

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Glue answers the AWS Glue Data Catalog calls iceberg-go v0.7.0's Glue
// catalog makes for what pg2s3 does with it (the awsJson1_1 protocol,
// X-Amz-Target AWSGlue.<operation>), on a loopback port, holding
// databases and tables in memory: CreateDatabase, GetDatabase,
// GetDatabases, CreateTable, GetTable, GetTables (paged), UpdateTable and
// DeleteTable. As Glue does, names are case-insensitive (kept in lower
// case), a second CreateDatabase or CreateTable of a name is
// AlreadyExistsException, a missing database or table is
// EntityNotFoundException, and every table has a VersionId that each
// UpdateTable moves: an UpdateTable naming another VersionId than the
// table's current one fails with ConcurrentModificationException (Glue's
// optimistic locking, which iceberg-go's commits rely on), so a lost race
// is an error, never a silent overwrite. No Glue emulator installs from
// the registries reachable here (moto is Python, LocalStack's Glue is
// paid).
type Glue struct {
	awsJSON
	mu    sync.Mutex
	dbs   map[string]*glueDatabase
	calls []string
}

type glueDatabase struct {
	fields map[string]any // the DatabaseInput, as sent
	tables map[string]*glueTable
	create time.Time
}

type glueTable struct {
	fields         map[string]any // the TableInput, as sent
	version        int
	create, update time.Time
}

// StartGlue starts an empty catalog.
func StartGlue() (*Glue, error) {
	g := &Glue{dbs: map[string]*glueDatabase{}}
	if err := g.start(g.serve); err != nil {
		return nil, err
	}
	return g, nil
}

// Calls are the operations received, in order (e.g. "GetTable").
func (g *Glue) Calls() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.calls)
}

// TableParameters returns a table's Parameters (nil when there is no
// such table): iceberg-go keeps the table's metadata_location there.
func (g *Glue) TableParameters(database, table string) map[string]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	db := g.dbs[strings.ToLower(database)]
	if db == nil || db.tables[strings.ToLower(table)] == nil {
		return nil
	}
	out := map[string]string{}
	p, _ := db.tables[strings.ToLower(table)].fields["Parameters"].(map[string]any)
	for k, v := range p {
		out[k] = fmt.Sprint(v)
	}
	return out
}

// glueError is an AWS JSON error answer.
type glueError struct {
	code     int
	typ, msg string
}

func (e *glueError) Error() string { return e.typ + ": " + e.msg }

func notFound(format string, a ...any) *glueError {
	return &glueError{400, "EntityNotFoundException", fmt.Sprintf(format, a...)}
}

func (g *Glue) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AWSGlue.")
	if !ok {
		awsJSONError(w, 400, "UnknownOperationException", "not a Glue request")
		return
	}
	var in map[string]any
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		awsJSONError(w, 400, "SerializationException", err.Error())
		return
	}
	g.mu.Lock()
	g.calls = append(g.calls, op)
	out, err := g.do(op, in, time.Now())
	g.mu.Unlock()
	if err != nil {
		awsJSONError(w, err.code, err.typ, err.msg)
		return
	}
	json.NewEncoder(w).Encode(out)
}

// do runs one operation with the lock held.
func (g *Glue) do(op string, in map[string]any, now time.Time) (map[string]any, *glueError) {
	str := func(k string) string { s, _ := in[k].(string); return s }
	lower := func(k string) string { return strings.ToLower(str(k)) }
	database := func() (*glueDatabase, *glueError) {
		name := lower("DatabaseName")
		if db := g.dbs[name]; db != nil {
			return db, nil
		}
		return nil, notFound("Database %s not found.", name)
	}
	switch op {
	case "CreateDatabase":
		fields, _ := in["DatabaseInput"].(map[string]any)
		name, _ := fields["Name"].(string)
		if name == "" {
			return nil, &glueError{400, "InvalidInputException", "DatabaseInput.Name is required"}
		}
		name = strings.ToLower(name)
		if g.dbs[name] != nil {
			return nil, &glueError{400, "AlreadyExistsException", "Database already exists."}
		}
		fields = maps.Clone(fields)
		fields["Name"] = name
		g.dbs[name] = &glueDatabase{fields: fields, tables: map[string]*glueTable{}, create: now}
		return map[string]any{}, nil
	case "GetDatabase":
		name := lower("Name")
		db := g.dbs[name]
		if db == nil {
			return nil, notFound("Database %s not found.", name)
		}
		return map[string]any{"Database": db.view()}, nil
	case "GetDatabases":
		var list []any
		for _, name := range slices.Sorted(maps.Keys(g.dbs)) {
			list = append(list, g.dbs[name].view())
		}
		return map[string]any{"DatabaseList": list}, nil
	case "CreateTable":
		db, err := database()
		if err != nil {
			return nil, err
		}
		fields, _ := in["TableInput"].(map[string]any)
		name, _ := fields["Name"].(string)
		if name == "" {
			return nil, &glueError{400, "InvalidInputException", "TableInput.Name is required"}
		}
		name = strings.ToLower(name)
		if db.tables[name] != nil {
			return nil, &glueError{400, "AlreadyExistsException", "Table already exists."}
		}
		fields = maps.Clone(fields)
		fields["Name"] = name
		db.tables[name] = &glueTable{fields: fields, create: now, update: now}
		return map[string]any{}, nil
	case "GetTable":
		db, err := database()
		if err != nil {
			return nil, err
		}
		t := db.tables[lower("Name")]
		if t == nil {
			return nil, notFound("Table %s not found.", lower("Name"))
		}
		return map[string]any{"Table": t.view(lower("DatabaseName"))}, nil
	case "GetTables":
		db, err := database()
		if err != nil {
			return nil, err
		}
		names := slices.Sorted(maps.Keys(db.tables))
		start := 0
		if tok := str("NextToken"); tok != "" {
			n, err := strconv.Atoi(tok)
			if err != nil || n < 0 || n > len(names) {
				return nil, &glueError{400, "InvalidInputException", "bad NextToken"}
			}
			start = n
		}
		end := len(names)
		if m, ok := in["MaxResults"].(float64); ok && m > 0 && start+int(m) < end {
			end = start + int(m)
		}
		list := []any{}
		for _, n := range names[start:end] {
			list = append(list, db.tables[n].view(lower("DatabaseName")))
		}
		out := map[string]any{"TableList": list}
		if end < len(names) {
			out["NextToken"] = strconv.Itoa(end)
		}
		return out, nil
	case "UpdateTable":
		db, err := database()
		if err != nil {
			return nil, err
		}
		fields, _ := in["TableInput"].(map[string]any)
		name, _ := fields["Name"].(string)
		name = strings.ToLower(name)
		t := db.tables[name]
		if t == nil {
			return nil, notFound("Table %s not found.", name)
		}
		if v, given := in["VersionId"]; given && v != strconv.Itoa(t.version) {
			return nil, &glueError{400, "ConcurrentModificationException",
				fmt.Sprintf("Update table failed due to concurrent modifications: version %v was given, the table is at %d.", v, t.version)}
		}
		fields = maps.Clone(fields)
		fields["Name"] = name
		t.fields, t.version, t.update = fields, t.version+1, now
		return map[string]any{}, nil
	case "DeleteTable":
		db, err := database()
		if err != nil {
			return nil, err
		}
		if db.tables[lower("Name")] == nil {
			return nil, notFound("Table %s not found.", lower("Name"))
		}
		delete(db.tables, lower("Name"))
		return map[string]any{}, nil
	}
	return nil, &glueError{400, "UnknownOperationException", op + " is not served by the Glue stand-in"}
}

func (d *glueDatabase) view() map[string]any {
	v := maps.Clone(d.fields)
	v["CreateTime"] = float64(d.create.UnixMilli()) / 1000
	return v
}

func (t *glueTable) view(database string) map[string]any {
	v := maps.Clone(t.fields)
	v["DatabaseName"] = database
	v["VersionId"] = strconv.Itoa(t.version)
	v["CreateTime"] = float64(t.create.UnixMilli()) / 1000
	v["UpdateTime"] = float64(t.update.UnixMilli()) / 1000
	return v
}
