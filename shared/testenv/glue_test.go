package testenv

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/glue/types"
)

// TestGlueSemantics drives the Glue stand-in through the real SDK client:
// what exists and what does not, names in any case, paging, and the
// optimistic lock of UpdateTable: a stale VersionId is a
// ConcurrentModificationException and changes nothing.
func TestGlueSemantics(t *testing.T) {
	g, err := StartGlue()
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	ctx := context.Background()
	c := glue.New(glue.Options{Region: "us-east-1", BaseEndpoint: aws.String(g.Endpoint()),
		Credentials: aws.AnonymousCredentials{}})
	var notFound *types.EntityNotFoundException
	var exists *types.AlreadyExistsException
	var conflict *types.ConcurrentModificationException

	if _, err := c.GetDatabase(ctx, &glue.GetDatabaseInput{Name: aws.String("shop")}); !errors.As(err, &notFound) {
		t.Fatalf("GetDatabase of a missing database: %v", err)
	}
	db := &glue.CreateDatabaseInput{DatabaseInput: &types.DatabaseInput{Name: aws.String("Shop"), LocationUri: aws.String("s3://b/p")}}
	if _, err := c.CreateDatabase(ctx, db); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateDatabase(ctx, db); !errors.As(err, &exists) {
		t.Fatalf("second CreateDatabase: %v", err)
	}
	got, err := c.GetDatabase(ctx, &glue.GetDatabaseInput{Name: aws.String("shop")})
	if err != nil || aws.ToString(got.Database.Name) != "shop" || aws.ToString(got.Database.LocationUri) != "s3://b/p" || got.Database.CreateTime == nil {
		t.Fatalf("GetDatabase: %+v, %v", got, err)
	}
	table := func(name, loc string) *types.TableInput {
		return &types.TableInput{Name: aws.String(name), TableType: aws.String("EXTERNAL_TABLE"),
			Parameters: map[string]string{"metadata_location": loc}}
	}
	if _, err := c.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String("nope"), TableInput: table("t", "m0")}); !errors.As(err, &notFound) {
		t.Fatalf("CreateTable in a missing database: %v", err)
	}
	for _, n := range []string{"a", "b", "c"} {
		if _, err := c.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String("shop"), TableInput: table(n, "m0")}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.CreateTable(ctx, &glue.CreateTableInput{DatabaseName: aws.String("shop"), TableInput: table("A", "m0")}); !errors.As(err, &exists) {
		t.Fatalf("CreateTable of an existing name: %v", err)
	}
	var names []string
	p := glue.NewGetTablesPaginator(c, &glue.GetTablesInput{DatabaseName: aws.String("shop"), MaxResults: aws.Int32(2)})
	pages := 0
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, tb := range page.TableList {
			names = append(names, aws.ToString(tb.Name))
		}
	}
	if pages != 2 || len(names) != 3 || names[0] != "a" || names[2] != "c" {
		t.Fatalf("GetTables: %d pages, %v", pages, names)
	}

	// Two writers read version v; the first update wins, the second
	// fails and leaves the first's table.
	read, err := c.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String("shop"), Name: aws.String("A")})
	if err != nil || read.Table.VersionId == nil || aws.ToString(read.Table.DatabaseName) != "shop" {
		t.Fatalf("GetTable: %+v, %v", read, err)
	}
	v := read.Table.VersionId
	if _, err := c.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: aws.String("shop"), TableInput: table("a", "m1"), VersionId: v}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: aws.String("shop"), TableInput: table("a", "m2"), VersionId: v}); !errors.As(err, &conflict) {
		t.Fatalf("UpdateTable with a stale VersionId: %v", err)
	}
	read, err = c.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String("shop"), Name: aws.String("a")})
	if err != nil || read.Table.Parameters["metadata_location"] != "m1" || aws.ToString(read.Table.VersionId) == aws.ToString(v) {
		t.Fatalf("after the lost race: %+v, %v", read.Table, err)
	}
	if g.TableParameters("SHOP", "A")["metadata_location"] != "m1" {
		t.Fatalf("TableParameters: %v", g.TableParameters("shop", "a"))
	}
	if _, err := c.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: aws.String("shop"), TableInput: table("zz", "m1")}); !errors.As(err, &notFound) {
		t.Fatalf("UpdateTable of a missing table: %v", err)
	}

	if _, err := c.DeleteTable(ctx, &glue.DeleteTableInput{DatabaseName: aws.String("shop"), Name: aws.String("a")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetTable(ctx, &glue.GetTableInput{DatabaseName: aws.String("shop"), Name: aws.String("a")}); !errors.As(err, &notFound) {
		t.Fatalf("GetTable after DeleteTable: %v", err)
	}
	if _, err := c.DeleteTable(ctx, &glue.DeleteTableInput{DatabaseName: aws.String("shop"), Name: aws.String("a")}); !errors.As(err, &notFound) {
		t.Fatalf("second DeleteTable: %v", err)
	}
	if _, err := c.DeleteDatabase(ctx, &glue.DeleteDatabaseInput{Name: aws.String("shop")}); err == nil {
		t.Fatal("an operation the stand-in does not serve succeeded")
	}
}
