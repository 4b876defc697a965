package awsstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// tableWait bounds how long CreateTable waits for the table to be ACTIVE.
const tableWait = 2 * time.Minute

// CreateTable creates the bookmark table (on-demand billing, the key schema
// the CDK stack declares) and waits until it is ACTIVE. When the table
// exists it checks its key schema instead. It reports whether it created
// the table.
func (d *DynamoBookmarks) CreateTable(ctx context.Context) (bool, error) {
	_, err := d.client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName: aws.String(d.table),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(PartitionKey), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(SortKey), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(PartitionKey), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(SortKey), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	})
	created := err == nil
	if err != nil && !errors.As(err, new(*types.ResourceInUseException)) {
		return false, d.explain("create table "+d.table, err)
	}
	w := dynamodb.NewTableExistsWaiter(d.client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 100 * time.Millisecond
		o.MaxDelay = 2 * time.Second
	})
	if err := w.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(d.table)}, tableWait); err != nil {
		return created, d.explain("wait for table "+d.table, err)
	}
	return created, d.CheckTable(ctx)
}

// CheckTable verifies that the table exists and has the bookmark key
// schema (pipeline, stream), with an explained error otherwise.
func (d *DynamoBookmarks) CheckTable(ctx context.Context) error {
	out, err := d.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(d.table)})
	if err != nil {
		return d.explain("check table "+d.table, err)
	}
	var hash, rng string
	for _, k := range out.Table.KeySchema {
		switch k.KeyType {
		case types.KeyTypeHash:
			hash = aws.ToString(k.AttributeName)
		case types.KeyTypeRange:
			rng = aws.ToString(k.AttributeName)
		}
	}
	if hash != PartitionKey || rng != SortKey {
		return fmt.Errorf("check table %s: its key is (%s, %s), not (%s, %s): point bookmarks.table at a pg2s3 bookmark table",
			d.table, hash, rng, PartitionKey, SortKey)
	}
	return nil
}
