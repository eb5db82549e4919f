package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kiln-os/kiln/api/machine"
)

// maxImportSize is the node's limit on one image archive (initd/containers.MaxImportBytes),
// checked here too so that an oversized file is refused before a byte is sent.
const maxImportSize = 2 << 30

func cmdImage(e *env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: image list | image import FILE.tar", errUsage)
	}
	switch args[0] {
	case "list", "ls":
		if _, err := parseArgs(e.flagSet("image list"), args[1:], 0, 0); err != nil {
			return err
		}
		return call(e, func(ctx context.Context, api machine.MachineServiceClient) (*machine.ImageListResponse, error) {
			return api.ImageList(ctx, &machine.ImageListRequest{})
		}, func(resp *machine.ImageListResponse) error { return e.printImages(resp.GetImages()) })
	case "import":
		fs := e.flagSet("image import")
		kube := fs.Bool("kubernetes", false, "import into the CRI containerd, for pods (default: the node's containerd, for machine.containers)")
		pos, err := parseArgs(fs, args[1:], 1, 1)
		if err != nil {
			return err
		}
		runtime := ""
		if *kube {
			runtime = "kubernetes"
		}
		return e.importImage(pos[0], runtime)
	}
	return fmt.Errorf("%w: image %q: want list or import", errUsage, args[0])
}

func (e *env) printImages(images []*machine.Image) error {
	tw := e.table()
	fmt.Fprintln(tw, "NAME\tDIGEST\tSIZE\tPLATFORM\tCREATED")
	for _, im := range images {
		created := "-"
		if im.GetCreated() != nil {
			created = im.GetCreated().AsTime().UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", im.GetName(), shortDigest(im.GetDigest()), bytesText(uint64(im.GetSize())), im.GetPlatform(), created)
	}
	return tw.Flush()
}

// shortDigest keeps the algorithm and 12 hex digits, as container tools show digests.
func shortDigest(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}

// importImage streams an OCI image layout archive to the node in chunkSize pieces.
func (e *env) importImage(path, runtime string) error {
	f, size, err := openUpload("image import", path, 1, maxImportSize, "2 GiB")
	if err != nil {
		return err
	}
	defer f.Close()
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	stream, err := api.ImageImport(e.ctx)
	if err != nil {
		return err
	}
	if err := e.sendChunks(f, size, func(chunk []byte) error {
		return stream.Send(&machine.ImageImportRequest{Chunk: chunk, Runtime: runtime})
	}); err != nil {
		return fmt.Errorf("image import %s: %w", path, err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return err
	}
	if e.structured() {
		return e.printMessage(resp)
	}
	return e.printImages(resp.GetImages())
}

func cmdStats(e *env, args []string) error {
	if _, err := parseArgs(e.flagSet("stats"), args, 0, 0); err != nil {
		return err
	}
	return call(e, func(ctx context.Context, api machine.MachineServiceClient) (*machine.StatsResponse, error) {
		return api.Stats(ctx, &machine.StatsRequest{})
	}, func(resp *machine.StatsResponse) error {
		tw := e.table()
		fmt.Fprintln(tw, "KIND\tNAME\tMEMORY\tPEAK\tLIMIT\tCPU\tPIDS")
		for _, s := range resp.GetStats() {
			limit, peak := "-", "-"
			if s.GetMemoryLimitBytes() > 0 {
				limit = bytesText(s.GetMemoryLimitBytes())
			}
			if s.GetMemoryPeakBytes() > 0 {
				peak = bytesText(s.GetMemoryPeakBytes())
			}
			cpu := time.Duration(s.GetCpuUsageUsec()) * time.Microsecond
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%.2fs\t%d\n", s.GetKind(), s.GetName(), bytesText(s.GetMemoryBytes()), peak, limit, cpu.Seconds(), s.GetPids())
		}
		return tw.Flush()
	})
}

// containerStatus is the part of runtime/ContainerStatus the table shows.
type containerStatus struct {
	Name      string    `json:"name"`
	Image     string    `json:"image"`
	State     string    `json:"state"`
	PID       int       `json:"pid"`
	Restarts  int       `json:"restarts"`
	ExitCode  *int      `json:"exitCode"`
	Since     time.Time `json:"since"`
	LastError string    `json:"lastError"`
}

func cmdContainers(e *env, args []string) error {
	if _, err := parseArgs(e.flagSet("containers"), args, 0, 0); err != nil {
		return err
	}
	return call(e, func(ctx context.Context, api machine.MachineServiceClient) (*machine.ResourceListResponse, error) {
		return api.ResourceList(ctx, &machine.ResourceListRequest{Namespace: "runtime", Type: "ContainerStatus"})
	}, func(resp *machine.ResourceListResponse) error {
		tw := e.table()
		fmt.Fprintln(tw, "NAME\tIMAGE\tSTATE\tPID\tRESTARTS\tLAST EXIT\tSINCE\tLAST ERROR")
		for _, r := range resp.GetResources() {
			var st containerStatus
			if err := json.Unmarshal(r.GetSpecJson(), &st); err != nil {
				return fmt.Errorf("container %s: %w", r.GetMetadata().GetId(), err)
			}
			pid, exit := "-", "-"
			if st.PID > 0 {
				pid = fmt.Sprint(st.PID)
			}
			if st.ExitCode != nil {
				exit = fmt.Sprint(*st.ExitCode)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", st.Name, st.Image, st.State, pid, st.Restarts, exit,
				st.Since.UTC().Format(time.RFC3339), st.LastError)
		}
		return tw.Flush()
	})
}
