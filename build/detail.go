package build

// Detailer is an error with more to say than its one line: the lines that help a person
// act on it, such as the platforms a base image does offer. Whoever prints the error
// prints Error first and Detail below it; find it in a wrapped chain with errors.As.
type Detailer interface {
	error
	Detail() string
}

// The errors of this package that explain themselves.
var (
	_ Detailer = (*NoMatchError)(nil)
	_ Detailer = (*NoWheelError)(nil)
)
