package awsstore

import (
	"errors"
	"net/http"
	"testing"

	smithy "github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// apiError builds the error the SDK returns for an HTTP error response, for
// the failures the local servers cannot produce (they check no
// credentials, policies or regions).
func apiError(status int, code string, header http.Header) error {
	return &smithy.OperationError{ServiceID: "S3", OperationName: "PutObject", Err: &smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status, Header: header}},
		Err:      &smithy.GenericAPIError{Code: code, Message: "from the server"},
	}}
}

func TestExplainS3(t *testing.T) {
	aws := where{region: "eu-west-1"}
	cases := []struct {
		err  error
		want []string
	}{
		{apiError(403, "AccessDenied", nil), []string{`access denied to s3 bucket "b" in region eu-west-1 (AccessDenied)`, "s3:PutObject"}},
		{apiError(403, "InvalidAccessKeyId", nil), []string{"rejected the AWS credentials (InvalidAccessKeyId)", "AWS_PROFILE"}},
		{apiError(403, "SignatureDoesNotMatch", nil), []string{"rejected the AWS credentials"}},
		{apiError(301, "PermanentRedirect", http.Header{"X-Amz-Bucket-Region": {"us-west-2"}}), []string{`s3 bucket "b" is not in region eu-west-1`, `set sink.region to "us-west-2"`}},
		{apiError(400, "AuthorizationHeaderMalformed", nil), []string{"set sink.region to the bucket's region"}},
		{apiError(404, "NoSuchBucket", nil), []string{`s3 bucket "b" does not exist in region eu-west-1`}},
		{apiError(400, "KMS.NotFoundException", nil), []string{"sink.kms_key_id"}},
		{apiError(403, "", nil), []string{"access denied"}},
	}
	for _, c := range cases {
		err := explainS3("write k", "b", aws, c.err)
		assertExplained(t, err, append([]string{"write k: "}, c.want...)...)
		if !errors.Is(err, c.err) {
			t.Errorf("%v does not wrap the SDK error", err)
		}
	}
	other := apiError(500, "InternalError", nil)
	if err := explainS3("write k", "b", aws, other); !errors.Is(err, other) || err.Error() != "write k: "+other.Error() {
		t.Errorf("an unexplained error is wrapped as is; got %v", err)
	}
}

func TestExplainDynamo(t *testing.T) {
	aws := where{region: "eu-west-1"}
	cases := []struct {
		code string
		want string
	}{
		{"AccessDeniedException", `access denied to dynamodb table "t" in region eu-west-1`},
		{"UnrecognizedClientException", "rejected the AWS credentials"},
		{"ResourceNotFoundException", `dynamodb table "t" does not exist in region eu-west-1`},
	}
	for _, c := range cases {
		assertExplained(t, explainDynamo("put bookmark s", "t", aws, apiError(400, c.code, nil)), "put bookmark s: ", c.want)
	}
}
