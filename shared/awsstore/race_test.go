//go:build race

package awsstore

// The race detector's instrumentation allocates beside every heap object.
const raceHeapAllowance = 16 << 20
