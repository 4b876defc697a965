package awsstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pg2s3/pg2s3/shared/bookmark"
)

// Leases live in the bookmark table as items with sort key
// "lease#<name>", an owner and an expiry compared on every acquire (not a
// TTL: a dead holder's lease is taken over once expires_at has passed).

// Acquire takes the lease name for owner until ttl from now if it is free,
// expired or already owner's (then it renews it); bookmark.ErrLeaseHeld
// (with the holder and its expiry) otherwise.
func (d *DynamoBookmarks) Acquire(ctx context.Context, name, owner string, ttl time.Duration) error {
	if owner == "" || ttl <= 0 {
		return fmt.Errorf("acquire lease %s: owner and a positive ttl are required", name)
	}
	now := time.Now()
	item := d.key(leasePrefix + name)
	item[attrOwner] = &types.AttributeValueMemberS{Value: owner}
	item[attrExpiresAt] = num(now.Add(ttl).UnixMilli())
	_, err := d.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(d.table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(#s) OR #e < :now OR #o = :me"),
		ExpressionAttributeNames: map[string]string{
			"#s": SortKey, "#e": attrExpiresAt, "#o": attrOwner,
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":now": num(now.UnixMilli()),
			":me":  &types.AttributeValueMemberS{Value: owner},
		},
	})
	if err == nil {
		return nil
	}
	if !errors.As(err, new(*types.ConditionalCheckFailedException)) {
		return d.explain("acquire lease "+name, err)
	}
	holder, until := d.holder(ctx, name)
	return fmt.Errorf("acquire lease %s: held by %s until %s: %w", name, holder, until, bookmark.ErrLeaseHeld)
}

// holder describes who holds a lease, for the error of a failed Acquire.
func (d *DynamoBookmarks) holder(ctx context.Context, name string) (string, string) {
	out, err := d.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(d.table),
		Key:            d.key(leasePrefix + name),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil || out.Item == nil {
		return "another run", "its expiry"
	}
	owner, until := "another run", "its expiry"
	if o, ok := out.Item[attrOwner].(*types.AttributeValueMemberS); ok {
		owner = strconv.Quote(o.Value)
	}
	if e, ok := out.Item[attrExpiresAt].(*types.AttributeValueMemberN); ok {
		if ms, err := strconv.ParseInt(e.Value, 10, 64); err == nil {
			until = time.UnixMilli(ms).UTC().Format(time.RFC3339)
		}
	}
	return owner, until
}

// Release gives the lease up if owner still holds it; releasing a lease
// that expired and was taken over is not an error.
func (d *DynamoBookmarks) Release(ctx context.Context, name, owner string) error {
	_, err := d.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                 aws.String(d.table),
		Key:                       d.key(leasePrefix + name),
		ConditionExpression:       aws.String("#o = :me"),
		ExpressionAttributeNames:  map[string]string{"#o": attrOwner},
		ExpressionAttributeValues: map[string]types.AttributeValue{":me": &types.AttributeValueMemberS{Value: owner}},
	})
	if err != nil && !errors.As(err, new(*types.ConditionalCheckFailedException)) {
		return d.explain("release lease "+name, err)
	}
	return nil
}
