package pipeline

import (
	"path/filepath"

	"github.com/kiln-os/kiln/internal/atomicfile"
)

// artifact is one file of the output directory: Name is its key in the manifest, File its
// name in the output directory, Src where its step left it (the cache, or already staged).
type artifact struct {
	Name, File, Src string
}

// stageArtifacts puts every artifact into the staging directory under its File name and
// describes it for the manifest.
func stageArtifacts(staging string, artifacts []artifact) (map[string]Artifact, error) {
	staged := make(map[string]Artifact, len(artifacts))
	for _, a := range artifacts {
		dst := filepath.Join(staging, a.File)
		if a.Src != dst {
			// A copy, not a hard link: editing _out must never corrupt the cache.
			if err := atomicfile.Copy(dst, a.Src, 0o644); err != nil {
				return nil, err
			}
		}
		sum, size, err := FileSHA256(dst)
		if err != nil {
			return nil, err
		}
		staged[a.Name] = Artifact{Path: filepath.ToSlash(a.File), SHA256: sum, Size: size}
	}
	return staged, nil
}
