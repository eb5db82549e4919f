package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sirupsen/logrus"

	"github.com/kiln-os/kiln/kernel"
	"github.com/kiln-os/kiln/kernel/kspp"
)

// kernelIn is what the kernel step reads: the fragments, and where to cache and log.
type kernelIn struct {
	FragmentDir string
	// LogPath receives the full make output of a kernel build.
	LogPath string
	stepEnv
}

// stepKernel builds the kernel (cached by kernel.Builder itself). The result's paths are
// inside the cache.
func stepKernel(ctx context.Context, in kernelIn) (kernelOut, error) {
	kb := &kernel.Builder{FragmentDir: in.FragmentDir, CacheDir: in.CacheDir, LogPath: in.LogPath, Log: in.Log}
	res, err := kb.Build(ctx)
	if err != nil {
		return kernelOut{}, err
	}
	return kernelOut{Result: res, cached: cached{res.CacheHit}}, nil
}

// kernelOut is the kernel build's result.
type kernelOut struct {
	*kernel.Result
	cached
}

// kernelSource names the pinned kernel source package and version.
func kernelSource() string {
	return fmt.Sprintf("%s %s", kernel.SourcePackage, kernel.SourcePackageVersion)
}

// ksppReportIn is what the KSPP report covers: the kernel build's config checks and the
// command line; Dir is where the report files are written.
type ksppReportIn struct {
	Config  []kspp.Result
	Cmdline string
	Dir     string
	Log     logrus.FieldLogger
}

// ksppReportOut holds the paths of the report, as JSON and as text.
type ksppReportOut struct {
	JSON, Text string
}

// stepKSPPReport writes every KSPP rule's result: the config's, the command line's, and the
// sysctls as checked at boot. A command line missing a KSPP parameter is only a warning
// here, because machined is the one that refuses it at boot.
func stepKSPPReport(ctx context.Context, in ksppReportIn) (ksppReportOut, error) {
	cmdline := kspp.CheckCmdline(in.Cmdline)
	for _, f := range kspp.Failures(cmdline) {
		in.Log.WithFields(logrus.Fields{"param": f.Name, "want": f.Value, "got": f.Got}).
			Warn("kernel.cmdline misses a KSPP parameter: machined will refuse to boot")
	}
	results := append(append([]kspp.Result(nil), in.Config...), cmdline...)
	for _, r := range kspp.Rules() {
		if r.Kind == kspp.Sysctl {
			results = append(results, kspp.Result{Rule: r, Got: "(checked at boot)", State: statusState(r.Status)})
		}
	}
	out := ksppReportOut{JSON: filepath.Join(in.Dir, "kspp.json"), Text: filepath.Join(in.Dir, "kspp.txt")}
	if err := writeReport(out.JSON, func(f *os.File) error { return kspp.WriteJSON(f, results) }); err != nil {
		return ksppReportOut{}, err
	}
	if err := writeReport(out.Text, func(f *os.File) error { return kspp.WriteText(f, results) }); err != nil {
		return ksppReportOut{}, err
	}
	return out, nil
}

func writeReport(path string, write func(*os.File) error) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func statusState(s kspp.Status) string {
	switch s {
	case kspp.NotApplicable:
		return "n/a"
	case kspp.Exception:
		return "exception"
	}
	return "at boot"
}
