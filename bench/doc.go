// Package bench measures pg2s3 against the physical limits of the same
// machine, side by side in one run: throughput as a ratio to what
// PostgreSQL's own tools (COPY ... TO STDOUT (FORMAT binary), pg_recvlogical)
// reach on the same data, peak memory of the pg2s3 process, and Lambda
// bootstrap size and cold start. Run it with `make bench`; BENCH_ROWS
// scales it. Nothing here runs without -bench.
package bench
