//go:build !race

package reliability

// raceSlowdown scales the resource bounds of the hostile-input rows (see race_on_test.go).
const raceSlowdown = 1
