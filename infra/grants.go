package main

import (
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"
)

// grantStores gives grantee (a function, or the task's role), whose role
// is role, the pipeline's stores: the bookmark table (read only with
// readOnlyTable), the bucket below the prefix and the catalog key, and the
// secret; with cdk-nag's reasons for the wildcards these grants put on
// role.
func (p *pipeline) grantStores(s *shared, secret awssecretsmanager.ISecret, grantee awsiam.IGrantable, role awsiam.Role, readOnlyTable bool) {
	db := p.db
	if readOnlyTable {
		s.table.GrantReadData(grantee)
	} else {
		s.table.GrantReadWriteData(grantee)
	}
	s.bucket.GrantReadWrite(grantee, jsii.String(db.Prefix+"/*"))
	if !strings.HasPrefix(db.Catalog.S3Key, db.Prefix+"/") {
		s.bucket.GrantReadWrite(grantee, jsii.String(db.Catalog.S3Key))
	}
	secret.GrantRead(grantee, nil)
	suppressGrants(s, role)
	if db.SecretArn != "" && !completeSecretArn.MatchString(db.SecretArn) {
		suppressPartialSecret(role)
	}
}
