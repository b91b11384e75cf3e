// Package examples holds the docs' demo app, embedded for `pycontainer demo`.
package examples

import _ "embed" // the demo app's files

var (
	// DemoApp is cross-platform-demo/app.py.
	//go:embed cross-platform-demo/app.py
	DemoApp []byte
	// DemoPyproject is cross-platform-demo/pyproject.toml.
	//go:embed cross-platform-demo/pyproject.toml
	DemoPyproject []byte
)
