package awsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pg2s3/pg2s3/shared/bookmark"
	"github.com/pg2s3/pg2s3/shared/config"
)

// The bookmark table's key schema (the CDK stack declares the same): one
// item per stream, partitioned by pipeline.
const (
	PartitionKey = "pipeline" // S
	SortKey      = "stream"   // S: tap_stream_id, or "lease#<name>"
)

// Item attributes besides the key.
const (
	attrState     = "state"      // S: bookmark.State as JSON
	attrRev       = "rev"        // N: version, 1 on the first write
	attrOwner     = "owner"      // S: lease holder
	attrExpiresAt = "expires_at" // N: lease expiry, unix milliseconds
)

// leasePrefix marks lease items in the bookmark table.
const leasePrefix = "lease#"

// DynamoBookmarks keeps one pipeline's bookmarks and leases in a DynamoDB
// table. Every write is conditional; there are no transactions and no TTL.
type DynamoBookmarks struct {
	client   *dynamodb.Client
	table    string
	pipeline string
	where    where
}

// NewDynamoBookmarks returns the store for pipeline's bookmarks in
// cfg.Table. Credentials come from the default AWS chain unless an Option
// says otherwise.
func NewDynamoBookmarks(ctx context.Context, cfg config.Bookmarks, pipeline string, opts ...Option) (*DynamoBookmarks, error) {
	if cfg.Table == "" {
		return nil, errors.New("bookmarks.table: required for dynamodb bookmarks")
	}
	if pipeline == "" {
		return nil, errors.New("dynamodb bookmarks: pipeline name is empty")
	}
	acfg, err := loadConfig(ctx, "bookmarks", cfg.Region, cfg.Endpoint, opts)
	if err != nil {
		return nil, err
	}
	client := dynamodb.NewFromConfig(acfg, func(o *dynamodb.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return &DynamoBookmarks{
		client:   client,
		table:    cfg.Table,
		pipeline: pipeline,
		where:    where{region: acfg.Region, endpoint: cfg.Endpoint},
	}, nil
}

// Table is the table name.
func (d *DynamoBookmarks) Table() string { return d.table }

func (d *DynamoBookmarks) key(stream string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		PartitionKey: &types.AttributeValueMemberS{Value: d.pipeline},
		SortKey:      &types.AttributeValueMemberS{Value: stream},
	}
}

func (d *DynamoBookmarks) explain(op string, err error) error {
	return explainDynamo(op, d.table, d.where, err)
}

// Get returns a stream's bookmark with a consistent read; Rev 0 when none.
func (d *DynamoBookmarks) Get(ctx context.Context, stream string) (bookmark.Versioned, error) {
	out, err := d.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(d.table),
		Key:            d.key(stream),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return bookmark.Versioned{}, d.explain("get bookmark "+stream, err)
	}
	if out.Item == nil {
		return bookmark.Versioned{}, nil
	}
	v, err := decodeBookmark(out.Item)
	if err != nil {
		return bookmark.Versioned{}, fmt.Errorf("get bookmark %s: %w", stream, err)
	}
	return v, nil
}

func decodeBookmark(item map[string]types.AttributeValue) (bookmark.Versioned, error) {
	s, ok := item[attrState].(*types.AttributeValueMemberS)
	if !ok {
		return bookmark.Versioned{}, errors.New("item has no state attribute")
	}
	n, ok := item[attrRev].(*types.AttributeValueMemberN)
	if !ok {
		return bookmark.Versioned{}, errors.New("item has no rev attribute")
	}
	rev, err := strconv.ParseInt(n.Value, 10, 64)
	if err != nil {
		return bookmark.Versioned{}, fmt.Errorf("decode rev %q: %w", n.Value, err)
	}
	var v bookmark.Versioned
	if err := json.Unmarshal([]byte(s.Value), &v.State); err != nil {
		return bookmark.Versioned{}, fmt.Errorf("decode state: %w", err)
	}
	v.Rev = rev
	return v, nil
}

// revCondition is the condition that the stored revision is still rev
// (0: no item).
func revCondition(rev int64) (string, map[string]string, map[string]types.AttributeValue) {
	if rev == 0 {
		return "attribute_not_exists(#s)", map[string]string{"#s": SortKey}, nil
	}
	return "#r = :expected", map[string]string{"#r": attrRev},
		map[string]types.AttributeValue{":expected": num(rev)}
}

func num(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// Put writes st if the stored revision is still rev (0: absent) and returns
// the new revision; bookmark.ErrConflict when another writer moved it.
func (d *DynamoBookmarks) Put(ctx context.Context, stream string, st bookmark.State, rev int64) (int64, error) {
	if strings.HasPrefix(stream, leasePrefix) {
		return 0, fmt.Errorf("put bookmark %s: stream names may not start with %q", stream, leasePrefix)
	}
	js, err := json.Marshal(st)
	if err != nil {
		return 0, fmt.Errorf("put bookmark %s: %w", stream, err)
	}
	item := d.key(stream)
	item[attrState] = &types.AttributeValueMemberS{Value: string(js)}
	item[attrRev] = num(rev + 1)
	cond, names, values := revCondition(rev)
	_, err = d.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(d.table),
		Item:                      item,
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		if errors.As(err, new(*types.ConditionalCheckFailedException)) {
			return 0, fmt.Errorf("put bookmark %s at rev %d: %w", stream, rev, bookmark.ErrConflict)
		}
		return 0, d.explain("put bookmark "+stream, err)
	}
	return rev + 1, nil
}

// All returns every stream's bookmark of the pipeline (consistent reads).
func (d *DynamoBookmarks) All(ctx context.Context) (map[string]bookmark.Versioned, error) {
	p := dynamodb.NewQueryPaginator(d.client, &dynamodb.QueryInput{
		TableName:                 aws.String(d.table),
		KeyConditionExpression:    aws.String("#p = :p"),
		ExpressionAttributeNames:  map[string]string{"#p": PartitionKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{":p": &types.AttributeValueMemberS{Value: d.pipeline}},
		ConsistentRead:            aws.Bool(true),
	})
	all := map[string]bookmark.Versioned{}
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, d.explain("list bookmarks", err)
		}
		for _, item := range page.Items {
			s, _ := item[SortKey].(*types.AttributeValueMemberS)
			if s == nil || strings.HasPrefix(s.Value, leasePrefix) {
				continue
			}
			v, err := decodeBookmark(item)
			if err != nil {
				return nil, fmt.Errorf("list bookmarks: %s: %w", s.Value, err)
			}
			all[s.Value] = v
		}
	}
	return all, nil
}

// Delete removes a bookmark if its revision is still rev;
// bookmark.ErrConflict otherwise.
func (d *DynamoBookmarks) Delete(ctx context.Context, stream string, rev int64) error {
	cond, names, values := revCondition(rev)
	_, err := d.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(d.table),
		Key:                       d.key(stream),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeNames:  names,
		ExpressionAttributeValues: values,
	})
	if err != nil {
		if errors.As(err, new(*types.ConditionalCheckFailedException)) {
			return fmt.Errorf("delete bookmark %s at rev %d: %w", stream, rev, bookmark.ErrConflict)
		}
		return d.explain("delete bookmark "+stream, err)
	}
	return nil
}
