package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsathena"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsglue"
	"github.com/aws/jsii-runtime-go"
	"github.com/pg2s3/pg2s3/shared/catalog"
	"github.com/pg2s3/pg2s3/shared/warehouse"
)

// The stack makes the replicated objects queryable in place with Athena:
// one Glue database for the stack; per pipeline the table of its version
// markers; with a glue_catalog, a Glue table per selected stream (the same
// definitions `pg2s3 ddl --athena` prints, from shared/warehouse) and an
// Athena saved query per stream that creates its <table>_current view.
// Views are saved queries rather than Glue tables: a Glue view needs
// Athena's encoded view definition, which only Athena writes reliably.
// Nothing here is granted to the functions: they never read the catalog.

// newGlueDatabase creates the stack's Glue database.
func newGlueDatabase(s *shared) awsglue.CfnDatabase {
	return awsglue.NewCfnDatabase(s.stack, jsii.String("GlueDatabase"), &awsglue.CfnDatabaseProps{
		CatalogId: s.stack.Account(),
		DatabaseInput: &awsglue.CfnDatabase_DatabaseInputProperty{
			Name:        jsii.String(s.cfg.GlueDatabase),
			Description: jsii.String("pg2s3: tables over the replicated objects (query them with Athena)"),
		},
	})
}

// athenaSchema describes the pipeline's tables at location.
func (d *Database) athenaSchema(database, location string) (*warehouse.Schema, error) {
	return warehouse.AthenaSchema(d.glueStreams, warehouse.AthenaOptions{
		Database: database, Location: location, Format: d.Format, Pipeline: d.Name})
}

// glue creates the pipeline's Glue tables and view queries.
func (p *pipeline) glue(s *shared, db awsglue.CfnDatabase) {
	location := "s3://" + *s.bucket.BucketName() + "/" + p.db.Prefix + "/"
	sch, err := p.db.athenaSchema(s.cfg.GlueDatabase, location)
	if err != nil {
		panic(fmt.Sprintf("glue tables of %s: %v", p.db.Name, err)) // validate reported it already
	}
	for _, w := range sch.Warnings {
		awscdk.Annotations_Of(p.scope).AddWarningV2(jsii.String("pg2s3-glue-column-name"), jsii.String(w))
	}
	p.glueTable(s, db, "VersionsTable", sch.Versions, "pg2s3 "+p.db.Name+": version markers (the table version to read per stream)")
	for _, t := range sch.Tables {
		p.glueTable(s, db, "Table-"+t.Name, t, "pg2s3 "+p.db.Name+": "+t.Stream+" ("+t.Properties["pg2s3.replication_method"]+")")
		q := awsathena.NewCfnNamedQuery(p.scope, jsii.String("View-"+t.Name), &awsathena.CfnNamedQueryProps{
			Database:    jsii.String(s.cfg.GlueDatabase),
			Name:        jsii.String(truncate(warehouse.ViewName(t.Name), 128)),
			Description: jsii.String(truncate("pg2s3 "+p.db.Name+": creates the view of "+t.Stream+"'s current rows; run it after the first copy (again after a catalog change)", 1024)),
			QueryString: jsii.String(sch.CreateView(t)),
		})
		q.AddDependency(db)
	}
}

func (p *pipeline) glueTable(s *shared, db awsglue.CfnDatabase, id string, t warehouse.Table, desc string) {
	cols := make([]*awsglue.CfnTable_ColumnProperty, len(t.Columns))
	for i, c := range t.Columns {
		cols[i] = &awsglue.CfnTable_ColumnProperty{Name: jsii.String(c.Name), Type: jsii.String(c.Type)}
		if !strings.EqualFold(c.Name, c.Source) {
			cols[i].Comment = jsii.String("source field " + c.Source)
		}
	}
	params := map[string]*string{"EXTERNAL": jsii.String("TRUE")}
	for k, v := range t.Properties {
		params[k] = jsii.String(v)
	}
	serde := map[string]*string{}
	for k, v := range t.Storage.SerDeParameters {
		serde[k] = jsii.String(v)
	}
	tbl := awsglue.NewCfnTable(p.scope, jsii.String(id), &awsglue.CfnTableProps{
		CatalogId:    s.stack.Account(),
		DatabaseName: jsii.String(s.cfg.GlueDatabase),
		TableInput: &awsglue.CfnTable_TableInputProperty{
			Name:        jsii.String(t.Name),
			Description: jsii.String(truncate(desc, 2048)),
			TableType:   jsii.String("EXTERNAL_TABLE"),
			Parameters:  params,
			StorageDescriptor: &awsglue.CfnTable_StorageDescriptorProperty{
				Columns:      &cols,
				Location:     jsii.String(t.Location),
				InputFormat:  jsii.String(t.Storage.InputFormat),
				OutputFormat: jsii.String(t.Storage.OutputFormat),
				SerdeInfo: &awsglue.CfnTable_SerdeInfoProperty{
					SerializationLibrary: jsii.String(t.Storage.SerDe),
					Parameters:           serde,
				},
			},
		},
	})
	tbl.AddDependency(db)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// validateGlueCatalog reads glue_catalog and types the streams the stack
// makes tables for: the inline selection's streams when there is one (the
// file gives their columns), else the file's selected streams.
func (d *Database) validateGlueCatalog(entry string, e *errs) {
	if d.GlueCatalog == "" {
		return
	}
	ge := entry + ": glue_catalog"
	cat, err := catalog.Load(d.GlueCatalog)
	if err != nil {
		e.add(ge, "%v (write it with: pg2s3 discover --out catalog.json)", err)
		return
	}
	if len(d.Catalog.Streams) > 0 {
		for _, s := range cat.Streams {
			s.SetTableMetadata("selected", false)
		}
		var missing []string
		for _, id := range sortedKeys(d.Catalog.Streams) {
			sel, s := d.Catalog.Streams[id], cat.Stream(id)
			switch {
			case sel == nil:
			case s == nil:
				missing = append(missing, id)
			default:
				s.SetTableMetadata("selected", true)
				s.SetTableMetadata("replication-method", sel.ReplicationMethod)
				if sel.ReplicationKey != "" {
					s.SetTableMetadata("replication-key", sel.ReplicationKey)
				}
			}
		}
		if len(missing) > 0 {
			e.add(ge, "%s has no stream %s (named in catalog.streams): run pg2s3 discover again", d.GlueCatalog, strings.Join(missing, ", "))
		}
	}
	streams, err := warehouse.StreamsFromCatalog(cat, "")
	for _, err := range unjoin(err) {
		e.add(ge, "%v", err)
	}
	if len(streams) == 0 && err == nil {
		e.add(ge, "%s selects no stream: set \"selected\": true on the streams to query, or list them in catalog.streams", d.GlueCatalog)
	}
	d.glueStreams = streams
}

// validateGlueNames checks that every pipeline's tables and views have
// names of their own in the one Glue database.
func (c *StackConfig) validateGlueNames(e *errs) {
	if warehouse.AthenaName(c.GlueDatabase) != c.GlueDatabase || c.GlueDatabase == "" {
		return // reported already
	}
	owner := map[string]string{}
	for i, d := range c.Databases {
		if d == nil {
			continue
		}
		entry := fmt.Sprintf("databases[%d] %q: glue_catalog", i, d.Name)
		sch, err := d.athenaSchema(c.GlueDatabase, "s3://bucket/")
		for _, err := range unjoin(err) {
			e.add(entry, "%v", err)
		}
		if sch == nil {
			continue
		}
		names := []string{sch.Versions.Name}
		for _, t := range sch.Tables {
			names = append(names, t.Name, warehouse.ViewName(t.Name))
		}
		sort.Strings(names)
		for _, n := range names {
			if prev, dup := owner[n]; dup && prev != d.Name {
				e.add(entry, "table or view %s of glue_database %s is also a table or view of %q: use separate stack configs or rename a table", n, c.GlueDatabase, prev)
			}
			owner[n] = d.Name
		}
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
