// Package awsstore holds the AWS stores: the S3 sink, DynamoDB bookmarks
// and leases. It is the only importer of aws-sdk-go-v2. Its types have the
// methods that replicate's Sink, Bookmarks and Leaser interfaces ask for and
// return record's and bookmark's sentinel errors, wrapped.
package awsstore

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/logging"
)

// Option adjusts how a store reaches AWS.
type Option func(*options)

type options struct {
	creds       aws.CredentialsProvider
	maxAttempts int
	maxBackoff  time.Duration
}

// WithStaticCredentials uses fixed credentials instead of the default
// chain (environment, shared profile, Lambda role): for local
// S3- and DynamoDB-compatible servers.
func WithStaticCredentials(accessKeyID, secretAccessKey string) Option {
	return func(o *options) {
		o.creds = credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, "")
	}
}

// WithRetries bounds the attempts of each request (at least 1) and the
// backoff between them.
func WithRetries(attempts int, maxBackoff time.Duration) Option {
	return func(o *options) {
		o.maxAttempts = max(attempts, 1)
		o.maxBackoff = maxBackoff
	}
}

// Default retry bounds: a transient error is retried a few times; an
// outage fails the run within seconds instead of holding the Lambda.
const (
	defaultMaxAttempts = 4
	defaultMaxBackoff  = 2 * time.Second
	dialTimeout        = 5 * time.Second
	responseTimeout    = 20 * time.Second
)

// conns are the open connections of every AWS client of the process
// (the clients' dialers register them), for CloseConnections.
var conns = struct {
	sync.Mutex
	open map[*trackedConn]struct{}
}{open: map[*trackedConn]struct{}{}}

type trackedConn struct {
	net.Conn
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		conns.Lock()
		delete(conns.open, c)
		conns.Unlock()
	})
	return c.Conn.Close()
}

// trackConns makes a transport register the connections it dials.
func trackConns(tr *http.Transport) {
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		tc := &trackedConn{Conn: c}
		conns.Lock()
		conns.open[tc] = struct{}{}
		conns.Unlock()
		return tc, nil
	}
}

// CloseConnections closes every connection the process's AWS clients
// hold open; call it when none of them has a request running. A Lambda
// function calls it at the end of each invocation: the function is
// frozen until the next one, and the NATs and load balancers on the way
// may drop its idle flows meanwhile, so a connection kept open would lead
// the next invocation's first request into a black hole (and, since each
// invocation makes its clients anew, every invocation would add sockets
// to the last one's).
func CloseConnections() {
	conns.Lock()
	open := make([]*trackedConn, 0, len(conns.open))
	for c := range conns.open {
		open = append(open, c)
	}
	conns.Unlock()
	for _, c := range open {
		c.Close()
	}
}

// DefaultLocalRegion is used when an endpoint is set and no region is.
const DefaultLocalRegion = "us-east-1"

// loadConfig builds an aws.Config from the default chain with region and
// bounded retries. what names the config section for errors ("sink").
func loadConfig(ctx context.Context, what, region, endpoint string, opts []Option) (aws.Config, error) {
	o := options{maxAttempts: defaultMaxAttempts, maxBackoff: defaultMaxBackoff}
	for _, opt := range opts {
		opt(&o)
	}
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return aws.Config{}, fmt.Errorf("%s.endpoint: %q is not a URL like http://127.0.0.1:4566", what, redactURL(endpoint))
		}
		if region == "" {
			region = DefaultLocalRegion
		}
	}
	httpClient := awshttp.NewBuildableClient().WithDialerOptions(func(d *net.Dialer) {
		d.Timeout = dialTimeout
	}).WithTransportOptions(func(tr *http.Transport) {
		// A request whose answer does not start within this (an endpoint
		// that accepted the connection and went silent) fails and is
		// retried, instead of waiting for the run's context.
		tr.ResponseHeaderTimeout = responseTimeout
		trackConns(tr)
	})
	lo := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithHTTPClient(httpClient),
		awsconfig.WithLogger(sdkLogger{}),
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) {
				so.MaxAttempts = o.maxAttempts
				so.MaxBackoff = o.maxBackoff
			})
		}),
	}
	if region != "" {
		lo = append(lo, awsconfig.WithRegion(region))
	}
	if o.creds != nil {
		lo = append(lo, awsconfig.WithCredentialsProvider(o.creds))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, lo...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration for %s: %w", what, err)
	}
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("%s.region: no AWS region configured: set %s.region or AWS_REGION", what, what)
	}
	return cfg, nil
}

// sdkLogger sends the SDK's few log lines to slog instead of stderr:
// warnings as warnings, the rest (e.g. "response has no checksum") at debug.
type sdkLogger struct{}

func (sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	level := slog.LevelDebug
	if c == logging.Warn {
		level = slog.LevelWarn
	}
	slog.Log(context.Background(), level, "aws sdk: "+fmt.Sprintf(format, v...))
}

// redactURL drops user information from a URL before it is printed.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	return u.String()
}

// Config is the AWS configuration the stores use (the default
// credential chain, region, bounded retries and timeouts) for a client
// made outside this package: iceberg-go's Glue catalog
// (shared/materialize/gluecat). A non-empty endpoint becomes the base
// endpoint of every client made from it. what names the setting in
// errors.
func Config(ctx context.Context, what, region, endpoint string, opts ...Option) (aws.Config, error) {
	cfg, err := loadConfig(ctx, what, region, endpoint, opts)
	if err != nil {
		return cfg, err
	}
	if endpoint != "" {
		cfg.BaseEndpoint = aws.String(endpoint)
	}
	return cfg, nil
}
