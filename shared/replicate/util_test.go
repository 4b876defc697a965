package replicate_test

import (
	"strings"
	"time"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func timeNow() time.Time { return time.Now() }
