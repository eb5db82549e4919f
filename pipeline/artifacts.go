package pipeline

import (
	"errors"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/kiln-os/kiln/internal/atomicfile"
)

// artifact is one file of the output directory: Name is its key in the manifest, File its
// name in the output directory, Src where its step left it (the cache, or already staged).
type artifact struct {
	Name, File, Src string
}

// stageArtifacts puts every artifact into the staging directory under its File name and
// describes it for the manifest. Artifacts are copied and hashed in parallel, one per CPU
// at a time: disk.raw alone is a GiB to hash, and the rest fits beside it.
func stageArtifacts(staging string, artifacts []artifact) (map[string]Artifact, error) {
	described := make([]Artifact, len(artifacts))
	errs := make([]error, len(artifacts))
	slots := make(chan struct{}, runtime.NumCPU())
	var wg sync.WaitGroup
	for i, a := range artifacts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			described[i], errs[i] = stageArtifact(staging, a)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	staged := make(map[string]Artifact, len(artifacts))
	for i, a := range artifacts {
		staged[a.Name] = described[i]
	}
	return staged, nil
}

func stageArtifact(staging string, a artifact) (Artifact, error) {
	dst := filepath.Join(staging, a.File)
	if a.Src != dst {
		// A copy, not a hard link: editing _out must never corrupt the cache.
		if err := atomicfile.Copy(dst, a.Src, 0o644); err != nil {
			return Artifact{}, err
		}
	}
	sum, size, err := FileSHA256(dst)
	if err != nil {
		return Artifact{}, err
	}
	return Artifact{Path: filepath.ToSlash(a.File), SHA256: sum, Size: size}, nil
}
