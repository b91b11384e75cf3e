//go:build race

package reliability

// raceSlowdown scales the resource bounds of the hostile-input rows: the race detector
// makes the same work several times slower and larger.
const raceSlowdown = 10
