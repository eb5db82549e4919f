package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/internal/atomicfile"
)

// cmdBootstrap runs "bootstrap [--recover-from FILE]": etcd starts a new cluster on the
// node (admin, once), empty or from a snapshot of a lost cluster.
func cmdBootstrap(e *env, args []string) error {
	fs := e.flagSet("bootstrap")
	from := fs.String("recover-from", "", "an etcd snapshot (kilnctl etcd snapshot) to start the cluster from")
	if _, err := parseArgs(fs, args, 0, 0); err != nil {
		return err
	}
	if *from != "" {
		return e.recoverEtcd(*from)
	}
	return call(e, func(ctx context.Context, api machine.MachineServiceClient) (*machine.BootstrapResponse, error) {
		return api.Bootstrap(ctx, &machine.BootstrapRequest{})
	}, func(*machine.BootstrapResponse) error {
		_, err := fmt.Fprintln(e.stdout, "bootstrap requested: etcd starts a new cluster on this node; watch it with kilnctl services")
		return err
	})
}

// recoverEtcd streams the snapshot at path to EtcdRecover.
func (e *env) recoverEtcd(path string) error {
	f, size, err := openUpload("bootstrap --recover-from", path, 1, maxSnapshotSize, "8 GiB")
	if err != nil {
		return err
	}
	defer f.Close()
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	stream, err := api.EtcdRecover(e.ctx)
	if err != nil {
		return err
	}
	if err := e.sendChunks(f, size, func(chunk []byte) error {
		return stream.Send(&machine.EtcdRecoverRequest{Chunk: chunk})
	}); err != nil {
		return fmt.Errorf("bootstrap --recover-from %s: %w", path, err)
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return err
	}
	if e.structured() {
		return e.printMessage(resp)
	}
	_, err = fmt.Fprintf(e.stdout, "recovered from %s (%s, sha256:%s): etcd starts with its data on this node alone; watch it with kilnctl services\n",
		path, bytesText(uint64(resp.GetBytes())), resp.GetSha256())
	return err
}

// maxSnapshotSize is the node's bound on a snapshot to recover from (k8s.MaxSnapshotBytes).
const maxSnapshotSize = 8 << 30

// cmdKubeconfig runs "kubeconfig [PATH]": an administrator's kubeconfig, written to PATH
// (mode 0600, refusing to replace a file without --force) or, for "-", to stdout.
func cmdKubeconfig(e *env, args []string) error {
	fs := e.flagSet("kubeconfig")
	ttl := fs.Duration("ttl", 0, "lifetime of the client certificate (default a year)")
	force := fs.Bool("force", false, "replace an existing file")
	pos, err := parseArgs(fs, args, 0, 1)
	if err != nil {
		return err
	}
	path := "kubeconfig"
	if len(pos) == 1 {
		path = pos[0]
	}
	if path != "-" && !*force {
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("%s exists: pass --force to replace it, or name another file", path)
		}
	}
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	resp, err := api.Kubeconfig(e.ctx, &machine.KubeconfigRequest{TtlSeconds: int64(*ttl / time.Second)})
	if err != nil {
		return err
	}
	if path == "-" {
		_, err := e.stdout.Write(resp.GetKubeconfig())
		return err
	}
	if err := atomicfile.Write(path, resp.GetKubeconfig(), 0o600); err != nil {
		return err
	}
	abs, _ := filepath.Abs(path)
	_, err = fmt.Fprintf(e.stdout, "wrote %s: kubectl --kubeconfig %s get nodes\n", path, abs)
	return err
}

// cmdEtcd runs "etcd members" and "etcd snapshot FILE".
func cmdEtcd(e *env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: etcd members | etcd snapshot FILE", errUsage)
	}
	switch args[0] {
	case "members":
		if _, err := parseArgs(e.flagSet("etcd members"), args[1:], 0, 0); err != nil {
			return err
		}
		return call(e, func(ctx context.Context, api machine.MachineServiceClient) (*machine.EtcdMembersResponse, error) {
			return api.EtcdMembers(ctx, &machine.EtcdMembersRequest{})
		}, func(resp *machine.EtcdMembersResponse) error {
			tw := e.table()
			fmt.Fprintln(tw, "ID\tNAME\tPEER URLS\tCLIENT URLS\tLEARNER")
			for _, m := range resp.GetMembers() {
				fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%v\n", m.GetId(), m.GetName(), m.GetPeerUrls(), m.GetClientUrls(), m.GetLearner())
			}
			return tw.Flush()
		})
	case "snapshot":
		pos, err := parseArgs(e.flagSet("etcd snapshot"), args[1:], 1, 1)
		if err != nil {
			return err
		}
		return e.etcdSnapshot(pos[0])
	}
	return fmt.Errorf("%w: etcd %q: want members or snapshot", errUsage, args[0])
}

// etcdSnapshot streams a snapshot into path: a temporary file beside it, synced and
// renamed when the whole stream arrived, so a cut stream leaves no half snapshot behind.
func (e *env) etcdSnapshot(path string) error {
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	stream, err := api.EtcdSnapshot(e.ctx, &machine.EtcdSnapshotRequest{})
	if err != nil {
		return err
	}
	pending, err := atomicfile.Create(filepath.Dir(path), filepath.Base(path))
	if err != nil {
		return err
	}
	defer pending.Discard()
	var n int64
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		w, err := pending.Write(chunk.GetData())
		if err != nil {
			return err
		}
		n += int64(w)
	}
	if n == 0 {
		return errors.New("the node sent an empty snapshot")
	}
	if err := pending.Commit(filepath.Base(path), 0o600); err != nil {
		return err
	}
	_, err = fmt.Fprintf(e.stdout, "wrote %s (%s)\n", path, bytesText(uint64(n)))
	return err
}
