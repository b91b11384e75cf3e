package oci

import (
	"runtime"
	"strings"
)

// HostPlatform is the platform of the machine pycontainer runs on.
func HostPlatform() Platform {
	return hostPlatform(runtime.GOOS, runtime.GOARCH)
}

func hostPlatform(goos, goarch string) Platform {
	return NormalizePlatform(Platform{OS: goos, Architecture: goarch})
}

// Execution says how a host runs an image of platform target.
type Execution struct {
	Native bool
	Note   string // e.g. "native on this machine", "runs under emulation (QEMU)"
}

// HowRuns explains how host runs containers of target: natively, natively inside the
// Linux VM that Docker Desktop and friends use on macOS and Windows, or under emulation.
func HowRuns(host, target Platform) Execution {
	host, target = NormalizePlatform(host), NormalizePlatform(target)
	if target.OS != "linux" {
		if target.OS == host.OS && target.Architecture == host.Architecture {
			return Execution{Native: true, Note: "native on this machine"}
		}
		return Execution{Note: "needs a " + PlatformString(target) + " machine"}
	}
	where := "on this machine"
	emulation := "runs under emulation (QEMU)"
	if host.OS != "linux" {
		where = "in the Linux VM"
		if host.OS == "darwin" && host.Architecture == "arm64" && target.Architecture == "amd64" {
			emulation = "runs under emulation (Rosetta or QEMU)"
		}
	}
	switch {
	case target.Architecture == host.Architecture && variantRunsOn(host, target):
		return Execution{Native: true, Note: "native " + where}
	case host.Architecture == "amd64" && target.Architecture == "386":
		return Execution{Native: true, Note: "native " + where + " (32-bit)"}
	case host.Architecture == "arm64" && target.Architecture == "arm":
		return Execution{Note: "native only where the CPU has 32-bit (AArch32) support, else emulated"}
	}
	return Execution{Note: emulation}
}

// variantRunsOn reports whether a host of the same architecture runs target's variant:
// an arm/v7 host runs v6 and v5 images, not the reverse.
func variantRunsOn(host, target Platform) bool {
	if host.Variant == "" || target.Variant == "" || host.Variant == target.Variant {
		return true
	}
	return variantLevel(target.Variant) <= variantLevel(host.Variant)
}

func variantLevel(v string) int {
	v = strings.TrimPrefix(v, "v")
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}
