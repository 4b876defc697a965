//go:build !race

package awsstore

const raceHeapAllowance = 0
