package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/kiln-os/kiln/api/machine"
)

// call runs one unary call with no positional arguments beyond those the command
// parsed, and prints the answer as a table (row) or in the structured format.
func call[M proto.Message](e *env, rpc func(context.Context, machine.MachineServiceClient) (M, error), table func(M) error) error {
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	resp, err := rpc(e.ctx, api)
	if err != nil {
		return err
	}
	if e.structured() {
		return e.printMessage(resp)
	}
	return table(resp)
}

func cmdProcesses(e *env, args []string) error {
	if _, err := parseArgs(e.flagSet("processes"), args, 0, 0); err != nil {
		return err
	}
	return call(e, func(ctx context.Context, api machine.MachineServiceClient) (*machine.ProcessesResponse, error) {
		return api.Processes(ctx, &machine.ProcessesRequest{})
	}, func(resp *machine.ProcessesResponse) error {
		tw := e.table()
		fmt.Fprintln(tw, "PID\tPPID\tUSER\tSTATE\tTHREADS\tCPU\tRSS\tCOMMAND")
		for _, p := range resp.GetProcesses() {
			fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%d\t%.2fs\t%s\t%s\n", p.GetPid(), p.GetPpid(), p.GetUser(), p.GetState(),
				p.GetThreads(), p.GetCpuSeconds(), bytesText(p.GetRssBytes()), p.GetCommand())
		}
		return tw.Flush()
	})
}

func cmdMemory(e *env, args []string) error {
	if _, err := parseArgs(e.flagSet("memory"), args, 0, 0); err != nil {
		return err
	}
	return call(e, func(ctx context.Context, api machine.MachineServiceClient) (*machine.MemoryResponse, error) {
		return api.Memory(ctx, &machine.MemoryRequest{})
	}, func(m *machine.MemoryResponse) error {
		tw := e.table()
		fmt.Fprintln(tw, "TOTAL\tUSED\tFREE\tAVAILABLE\tBUFFERS\tCACHED\tSHARED\tSWAP")
		used := m.GetTotal() - m.GetFree() - m.GetBuffers() - m.GetCached()
		if m.GetFree()+m.GetBuffers()+m.GetCached() > m.GetTotal() {
			used = 0
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s/%s\n", bytesText(m.GetTotal()), bytesText(used), bytesText(m.GetFree()),
			bytesText(m.GetAvailable()), bytesText(m.GetBuffers()), bytesText(m.GetCached()), bytesText(m.GetShmem()),
			bytesText(m.GetSwapTotal()-m.GetSwapFree()), bytesText(m.GetSwapTotal()))
		return tw.Flush()
	})
}

func cmdMounts(e *env, args []string) error {
	if _, err := parseArgs(e.flagSet("mounts"), args, 0, 0); err != nil {
		return err
	}
	return call(e, func(ctx context.Context, api machine.MachineServiceClient) (*machine.MountsResponse, error) {
		return api.Mounts(ctx, &machine.MountsRequest{})
	}, func(resp *machine.MountsResponse) error {
		tw := e.table()
		fmt.Fprintln(tw, "MOUNTPOINT\tTYPE\tSOURCE\tOPTIONS")
		for _, m := range resp.GetMounts() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.GetMountPoint(), m.GetFsType(), m.GetSource(), strings.Join(m.GetOptions(), ","))
		}
		return tw.Flush()
	})
}

func cmdDisks(e *env, args []string) error {
	if _, err := parseArgs(e.flagSet("disks"), args, 0, 0); err != nil {
		return err
	}
	return call(e, func(ctx context.Context, api machine.MachineServiceClient) (*machine.DisksResponse, error) {
		return api.Disks(ctx, &machine.DisksRequest{})
	}, func(resp *machine.DisksResponse) error {
		tw := e.table()
		fmt.Fprintln(tw, "DEVICE\tSIZE\tLABEL\tBOOT\tREAD-ONLY\tMODEL")
		for _, d := range resp.GetDisks() {
			fmt.Fprintf(tw, "%s\t%s\t-\t%s\t%s\t%s\n", d.GetName(), bytesText(d.GetSizeBytes()), yesNo(d.GetBoot()), yesNo(d.GetReadOnly()), dash(d.GetModel()))
			for _, p := range d.GetPartitions() {
				fmt.Fprintf(tw, "  %s\t%s\t%s\t\t\t\n", p.GetName(), bytesText(p.GetSizeBytes()), dash(p.GetLabel()))
			}
		}
		return tw.Flush()
	})
}

func cmdNetstat(e *env, args []string) error {
	if _, err := parseArgs(e.flagSet("netstat"), args, 0, 0); err != nil {
		return err
	}
	return call(e, func(ctx context.Context, api machine.MachineServiceClient) (*machine.NetstatResponse, error) {
		return api.Netstat(ctx, &machine.NetstatRequest{})
	}, func(resp *machine.NetstatResponse) error {
		tw := e.table()
		fmt.Fprintln(tw, "PROTO\tLOCAL\tREMOTE\tSTATE\tPID\tPROCESS")
		for _, s := range resp.GetSockets() {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.GetProtocol(), dash(s.GetLocal()), dash(s.GetRemote()), dash(s.GetState()),
				pidText(s.GetPid()), dash(s.GetProcess()))
		}
		return tw.Flush()
	})
}

func cmdLs(e *env, args []string) error {
	pos, err := parseArgs(e.flagSet("ls"), args, 1, 1)
	if err != nil {
		return err
	}
	return call(e, func(ctx context.Context, api machine.MachineServiceClient) (*machine.ListFilesResponse, error) {
		return api.ListFiles(ctx, &machine.ListFilesRequest{Path: pos[0]})
	}, func(resp *machine.ListFilesResponse) error {
		tw := e.table()
		fmt.Fprintln(tw, "MODE\tUID\tGID\tSIZE\tMODIFIED\tNAME")
		for _, f := range resp.GetFiles() {
			name := f.GetName()
			if f.GetLink() != "" {
				name += " -> " + f.GetLink()
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\n", f.GetMode(), f.GetUid(), f.GetGid(), f.GetSize(),
				f.GetModified().AsTime().UTC().Format(time.RFC3339), name)
		}
		return tw.Flush()
	})
}

// cmdRead writes the file's bytes as they are (table output), or the message.
func cmdRead(e *env, args []string) error {
	pos, err := parseArgs(e.flagSet("read"), args, 1, 1)
	if err != nil {
		return err
	}
	return call(e, func(ctx context.Context, api machine.MachineServiceClient) (*machine.ReadFileResponse, error) {
		return api.ReadFile(ctx, &machine.ReadFileRequest{Path: pos[0]})
	}, func(resp *machine.ReadFileResponse) error {
		_, err := e.stdout.Write(resp.GetData())
		return err
	})
}

// timeStatus is the node's network/TimeStatus spec, as machined writes it.
type timeStatus struct {
	Disabled bool   `json:"disabled"`
	Synced   bool   `json:"synced"`
	Server   string `json:"server,omitempty"`
	Offset   string `json:"offset,omitempty"`
	Error    string `json:"error,omitempty"`
}

// cmdTime reports time sync from the TimeStatus resource: machined measures the offset
// to the server when it syncs, and this is what it has.
func cmdTime(e *env, args []string) error {
	if _, err := parseArgs(e.flagSet("time"), args, 0, 0); err != nil {
		return err
	}
	api, done, err := e.dial()
	if err != nil {
		return err
	}
	defer done()
	res, err := api.ResourceGet(e.ctx, &machine.ResourceGetRequest{Namespace: "network", Type: "TimeStatus", Id: "node"})
	if status.Code(err) == codes.NotFound {
		return errors.New("the node has no network/TimeStatus: time sync has not run yet (kilnctl get timeserverspec shows the servers it will ask)")
	}
	if err != nil {
		return err
	}
	if e.structured() {
		p := e.printer(false)
		if err := p.json(res.GetSpecJson()); err != nil {
			return err
		}
		return p.close()
	}
	var ts timeStatus
	if err := json.Unmarshal(res.GetSpecJson(), &ts); err != nil {
		return fmt.Errorf("the node's TimeStatus: %w", err)
	}
	tw := e.table()
	fmt.Fprintln(tw, "SERVER\tSYNCED\tOFFSET\tNODE TIME\tERROR")
	state := yesNo(ts.Synced)
	if ts.Disabled {
		state = "disabled"
	}
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", dash(ts.Server), state, dash(ts.Offset),
		res.GetMetadata().GetUpdated().AsTime().UTC().Format(time.RFC3339), dash(ts.Error))
	return tw.Flush()
}

// bytesText is a size in binary units, one decimal.
func bytesText(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
