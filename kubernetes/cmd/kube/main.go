// Command kube is the Kubernetes payload's one multi-call binary: etcd, etcdctl and
// etcdutl, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy
// and kubectl, built from the pinned upstream modules; Kiln's pod-routes (podroutes); the
// mount and umount programs the kubelet's volume code runs (mountcmd) and the nft that
// kube-proxy runs (nftcmd). The
// payload holds it once and names each program as a hard link to it; the name the binary
// was started by (argv[0]'s base name) picks the program, and "kube PROGRAM ARGS..." does
// the same for a caller that cannot choose argv[0].
//
// One binary instead of eight: the programs share most of their packages (client-go,
// apimachinery, grpc, protobuf, etcd's client), so the payload holds them once, and the
// build links once instead of eight times (each link of a Kubernetes program takes 2–3 GB
// and most of a minute on two cores). Kubernetes shipped the same idea as hyperkube until
// v1.17.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/etcdctl/v3/ctlv3"
	"go.etcd.io/etcd/etcdutl/v3/etcdutl"
	"go.etcd.io/etcd/server/v3/etcdmain"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // JSON log format, as upstream's mains
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream's mains
	_ "k8s.io/component-base/metrics/prometheus/version"  // the version metric, as upstream's mains
	"k8s.io/kubectl/pkg/cmd"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"

	"github.com/kiln-os/kiln/kubernetes/mountcmd"
	"github.com/kiln-os/kiln/kubernetes/nftcmd"
	"github.com/kiln-os/kiln/kubernetes/podroutes"
)

// programs maps a program's name to its main; each returns the process's exit code.
var programs = map[string]func(args []string) int{
	"etcd": func(args []string) int {
		etcdmain.Main(args) // exits itself on error
		return 0
	},
	"etcdctl": func([]string) int {
		if err := ctlv3.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "etcdctl:", err)
			return 1
		}
		return 0
	},
	"etcdutl":        etcdutlMain,
	"mount":          mountcmd.Mount,
	"nft":            nftcmd.Main,
	"pod-routes":     podroutes.Main,
	"umount":         mountcmd.Umount,
	"kube-apiserver": func([]string) int { return cli.Run(apiserver.NewAPIServerCommand()) },
	"kube-controller-manager": func([]string) int {
		return cli.Run(controllermanager.NewControllerManagerCommand())
	},
	"kube-scheduler": func([]string) int { return cli.Run(scheduler.NewSchedulerCommand()) },
	"kubelet": func([]string) int {
		return cli.Run(kubelet.NewKubeletCommand(context.Background()))
	},
	"kube-proxy": func([]string) int { return cli.Run(proxy.NewProxyCommand()) },
	"kubectl": func([]string) int {
		if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
			return 1 // kubectl printed the error itself
		}
		return 0
	},
}

// etcdutlMain is etcdutl, the offline tool for an etcd data directory: snapshot restore
// (a member's data directory made from "etcdctl snapshot save"'s file), snapshot status,
// defrag. Upstream's etcdutl main is a package main; its commands are importable, so the
// root command is assembled here with the flags those commands read.
func etcdutlMain([]string) int {
	root := &cobra.Command{Use: "etcdutl", Short: "offline administration of an etcd data directory", SilenceUsage: true}
	root.PersistentFlags().DurationVar(&etcdutl.FlockTimeout, "timeout", 10*time.Second, "how long to wait for the lock on the db file (0: forever)")
	root.PersistentFlags().StringVarP(&etcdutl.OutputFormat, "write-out", "w", "simple", "output format: fields, json, protobuf, simple or table")
	root.AddCommand(etcdutl.NewSnapshotCommand(), etcdutl.NewDefragCommand(), etcdutl.NewHashKVCommand(), etcdutl.NewVersionCommand())
	if err := root.Execute(); err != nil {
		return 1 // cobra printed the error
	}
	return 0
}

func main() {
	name, args := filepath.Base(os.Args[0]), os.Args
	if _, ok := programs[name]; !ok && len(os.Args) > 1 {
		// "kube PROGRAM ARGS...": the program sees itself started as PROGRAM.
		name, args = os.Args[1], os.Args[1:]
		os.Args = args
	}
	run, ok := programs[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "kube: unknown program %q; start it as one of %v\n", name, names())
		os.Exit(2)
	}
	os.Exit(run(args))
}

func names() []string {
	all := make([]string, 0, len(programs))
	for name := range programs {
		all = append(all, name)
	}
	sort.Strings(all)
	return all
}
