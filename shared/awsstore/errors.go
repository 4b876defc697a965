package awsstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// explained is an error whose message is one line naming the resource and
// the fix; the SDK's error stays reachable with errors.Is and errors.As.
// Messages hold names, regions and endpoints, never credentials.
type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }

// where says where a store lives, for messages.
type where struct {
	region, endpoint string
}

func (w where) String() string {
	if w.endpoint != "" {
		return "at " + redactURL(w.endpoint)
	}
	return "in region " + w.region
}

// failure is what an error from AWS means for the user.
type failure int

const (
	failOther failure = iota
	failMissing
	failDenied
	failCredentials
	failRegion
	failUnreachable
	failKMS
)

func classify(err error) (failure, string) {
	var ae smithy.APIError
	code := ""
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	status := 0
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	switch code {
	case "NoSuchBucket", "ResourceNotFoundException":
		return failMissing, code
	case "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException",
		"InvalidToken", "TokenRefreshRequired", "UnrecognizedClientException",
		"InvalidSignatureException", "MissingAuthenticationTokenException":
		return failCredentials, code
	case "AccessDenied", "AccessDeniedException", "AllAccessDisabled", "Forbidden":
		return failDenied, code
	case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException":
		return failRegion, code
	case "KMS.NotFoundException", "KMS.DisabledException", "KMS.KMSInvalidStateException":
		return failKMS, code
	}
	switch status {
	case 301, 307:
		return failRegion, fmt.Sprint(status)
	case 403:
		return failDenied, fmt.Sprint(status)
	}
	if code == "" && (errors.As(err, new(*net.OpError)) || errors.As(err, new(*net.DNSError))) {
		return failUnreachable, ""
	}
	if s := err.Error(); strings.Contains(s, "get credentials") || strings.Contains(s, "failed to retrieve credentials") {
		return failCredentials, "no credentials"
	}
	return failOther, code
}

// bucketRegion is the region S3 says a bucket lives in, when it says.
func bucketRegion(err error) string {
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.Response != nil {
		return re.Response.Header.Get("X-Amz-Bucket-Region")
	}
	return ""
}

// explain turns err into one line: op, then what message says of its
// failure (nothing: err as it is). A cancelled or timed-out call is never
// explained away: the caller's deadline is the cause.
func explain(op string, err error, message func(kind failure, code string) string) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	kind, code := classify(err)
	msg := message(kind, code)
	if msg == "" {
		return fmt.Errorf("%s: %w", op, err)
	}
	return &explained{msg: op + ": " + msg, err: err}
}

// explainS3 turns an S3 error into a one-line error naming the bucket and
// the fix; op is the short verb phrase of what failed ("write k").
func explainS3(op, bucket string, w where, err error) error {
	return explain(op, err, func(kind failure, code string) string {
		switch kind {
		case failMissing:
			return fmt.Sprintf("s3 bucket %q does not exist %s (%s): create it (`pg2s3 setup-stores` on a local server, the CDK stack in AWS) or set sink.bucket to an existing bucket", bucket, w, code)
		case failDenied:
			return fmt.Sprintf("access denied to s3 bucket %q %s (%s): grant the role in use s3:GetObject, s3:PutObject, s3:ListBucket and s3:AbortMultipartUpload on it (and kms:GenerateDataKey with SSE-KMS)", bucket, w, code)
		case failCredentials:
			return fmt.Sprintf("s3 bucket %q %s rejected the AWS credentials (%s): check the default credential chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, the Lambda role)", bucket, w, code)
		case failRegion:
			hint := "set sink.region to the bucket's region"
			if r := bucketRegion(err); r != "" {
				hint = fmt.Sprintf("set sink.region to %q", r)
			}
			return fmt.Sprintf("s3 bucket %q is not %s (%s): %s", bucket, w, code, hint)
		case failUnreachable:
			return fmt.Sprintf("cannot reach S3 %s for bucket %q: check sink.endpoint and sink.region, and that the server is running", w, bucket)
		case failKMS:
			return fmt.Sprintf("the KMS key for s3 bucket %q is unusable (%s): check sink.kms_key_id", bucket, code)
		}
		return ""
	})
}

// explainDynamo turns a DynamoDB error into a one-line error naming the
// table and the fix.
func explainDynamo(op, table string, w where, err error) error {
	return explain(op, err, func(kind failure, code string) string {
		switch kind {
		case failMissing:
			return fmt.Sprintf("dynamodb table %q does not exist %s (%s): create it with `pg2s3 setup-stores --config FILE` (the CDK stack in AWS) or set bookmarks.table", table, w, code)
		case failDenied:
			return fmt.Sprintf("access denied to dynamodb table %q %s (%s): grant the role in use dynamodb:GetItem, PutItem, DeleteItem and Query on it", table, w, code)
		case failCredentials:
			return fmt.Sprintf("dynamodb %s rejected the AWS credentials for table %q (%s): check the default credential chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, the Lambda role)", w, table, code)
		case failRegion:
			return fmt.Sprintf("dynamodb table %q is not %s (%s): set bookmarks.region to the table's region", table, w, code)
		case failUnreachable:
			return fmt.Sprintf("cannot reach DynamoDB %s for table %q: check bookmarks.endpoint and bookmarks.region, and that the server is running", w, table)
		}
		return ""
	})
}
