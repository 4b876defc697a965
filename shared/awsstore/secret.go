package awsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	smithy "github.com/aws/smithy-go"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// DatabaseSecret is the JSON shape of an RDS-managed (or RDS-style)
// Secrets Manager secret.
type DatabaseSecret struct {
	Host     string          `json:"host"`
	Port     json.RawMessage `json:"port"`
	Username string          `json:"username"`
	Password string          `json:"password"`
	DBName   string          `json:"dbname"`
	Engine   string          `json:"engine,omitempty"`

	// Optional secrets beyond the RDS shape, each in the config's own
	// form: the bastion tunnel (ssh_tunnel: host, port, user, private_key
	// or password, passphrase, host_key) and SSL material (inline PEM).
	SSHTunnel   json.RawMessage `json:"ssh_tunnel,omitempty"`
	SSLRootCert string          `json:"sslrootcert,omitempty"`
	SSLCert     string          `json:"sslcert,omitempty"`
	SSLKey      string          `json:"sslkey,omitempty"`
}

// GetDatabaseSecret reads the secret arn (or name). region and endpoint
// follow the other stores: empty for AWS defaults.
func GetDatabaseSecret(ctx context.Context, arn, region, endpoint string, opts ...Option) (*DatabaseSecret, error) {
	cfg, err := loadConfig(ctx, "secret", region, endpoint, opts)
	if err != nil {
		return nil, err
	}
	client := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	})
	out, err := client.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("read secret %s: Secrets Manager did not answer in time (%v): check the function's network path to it (from a VPC: a Secrets Manager interface endpoint or a NAT gateway)", arn, ctx.Err())
	}
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %s: check the ARN and that the function's role may call secretsmanager:GetSecretValue on it", arn, secretErrorCode(err))
	}
	if out.SecretString == nil {
		return nil, fmt.Errorf("read secret %s: it holds no string (store the RDS JSON: host, port, username, password, dbname)", arn)
	}
	var s DatabaseSecret
	if err := json.Unmarshal([]byte(*out.SecretString), &s); err != nil {
		return nil, fmt.Errorf("read secret %s: not the RDS JSON shape (host, port, username, password, dbname)", arn)
	}
	return &s, nil
}

// secretErrorCode names an error without echoing request details.
func secretErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if f, _ := classify(err); f == failUnreachable {
		return "endpoint unreachable"
	}
	return "request failed"
}
