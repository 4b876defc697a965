package logical

import (
	"context"
	"fmt"

	"github.com/pg2s3/pg2s3/shared/postgres/internal/pg"
)

// HeartbeatPrefix is the logical decoding message prefix of heartbeats.
const HeartbeatPrefix = "pg2s3_heartbeat"

// Heartbeat writes a transactional logical decoding message (prefix
// HeartbeatPrefix, the server time as content) and returns its LSN. Both
// decoders report it as an EventMessage inside its own transaction, so a
// run can acknowledge past WAL that holds no change of the selected tables
// and the slot does not hold that WAL forever. It needs the REPLICATION
// attribute (or superuser), like the slot itself.
func (src *Source) Heartbeat(ctx context.Context) (uint64, error) {
	var lsn string
	err := src.conn.QueryRow(ctx, "SELECT pg_logical_emit_message(true, $1, now()::text)::text", HeartbeatPrefix).Scan(&lsn)
	if err != nil {
		return 0, fmt.Errorf("emit heartbeat: %w", err)
	}
	return pg.ParseLSN(lsn)
}
