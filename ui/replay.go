package ui

import (
	"encoding/json"
	"fmt"

	"github.com/pycontainer/pycontainer/build"
)

// DecodeEvent reads one line of `--progress json` back into its event, so a recorded
// build replays into the terminal app's screens.
func DecodeEvent(line []byte) (build.Event, error) {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(line, &head); err != nil {
		return nil, fmt.Errorf("not a JSON event line: %w", err)
	}
	switch head.Type {
	case build.PlanReady{}.Type():
		return decodeAs[build.PlanReady](line)
	case build.PlatformStarted{}.Type():
		return decodeAs[build.PlatformStarted](line)
	case build.PlatformFailed{}.Type():
		return decodeAs[build.PlatformFailed](line)
	case build.LayerStarted{}.Type():
		return decodeAs[build.LayerStarted](line)
	case build.LayerResumed{}.Type():
		return decodeAs[build.LayerResumed](line)
	case build.LayerProgressed{}.Type():
		return decodeAs[build.LayerProgressed](line)
	case build.LayerDone{}.Type():
		return decodeAs[build.LayerDone](line)
	case build.PlatformDone{}.Type():
		return decodeAs[build.PlatformDone](line)
	case build.SdistCompiling{}.Type():
		return decodeAs[build.SdistCompiling](line)
	case build.SdistProgressed{}.Type():
		return decodeAs[build.SdistProgressed](line)
	case build.SdistCompiled{}.Type():
		return decodeAs[build.SdistCompiled](line)
	case build.Warning{}.Type():
		return decodeAs[build.Warning](line)
	case build.PushStarted{}.Type():
		return decodeAs[build.PushStarted](line)
	case build.PushProgressed{}.Type():
		return decodeAs[build.PushProgressed](line)
	case build.BlobPushed{}.Type():
		return decodeAs[build.BlobPushed](line)
	case build.Pushed{}.Type():
		return decodeAs[build.Pushed](line)
	case build.Finished{}.Type():
		return decodeAs[build.Finished](line)
	}
	return nil, fmt.Errorf("unknown event type %q", head.Type)
}

func decodeAs[T build.Event](line []byte) (build.Event, error) {
	var ev T
	if err := json.Unmarshal(line, &ev); err != nil {
		return nil, fmt.Errorf("%s event: %w", ev.Type(), err)
	}
	return ev, nil
}
