// Package reliability is pycontainer's reliability suite, and only tests: TestReliability
// runs every fault, interruption and hostile input that RELIABILITY.md lists, each as a
// user's command line (cli.Run in a clitest world, or this test binary run as
// pycontainer when a row must signal or bound a process), and checks what each row
// promises: a clear error in bounded time, no corrupt blob kept, no secret leaked.
//
// Run it with
//
//	go test ./internal/reliability -run TestReliability
//
// and add -report to rewrite RELIABILITY.md at the repository root from the run; only a
// passing run in which every section ran writes it. It takes minutes, so -short skips
// it. The sections that need Linux (signals, /proc, a tmpfs mounted as root) skip on
// other systems, and a few skip without root or pip.
package reliability
