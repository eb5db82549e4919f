package pipeline

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
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
			if err := copyFile(dst, a.Src); err != nil {
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

// copyFile copies a cached file. A copy, not a hard link: editing _out must never corrupt
// the cache.
func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}
