package qemu

import (
	"slices"
	"strings"
	"testing"
)

var testPaths = runtimePaths{qmpSocket: "/run/q/qmp.sock", eventsSocket: "/run/q/events.sock",
	varsFile: "/logs/vm.vars.fd", tpmSocket: "/run/q/swtpm.sock"}

func TestArgsDefault(t *testing.T) {
	cfg := defaultConfig()
	cfg.name = "vm"
	got := cfg.args("tcg", runtimePaths{qmpSocket: "/run/q/qmp.sock"})
	want := []string{
		"-name", "vm",
		"-machine", "q35",
		"-accel", "tcg",
		"-cpu", "max",
		"-smp", "2",
		"-m", "1024",
		"-nodefaults",
		"-no-user-config",
		"-display", "none",
		"-device", "virtio-rng-pci",
		"-chardev", "socket,id=qmp,path=/run/q/qmp.sock",
		"-mon", "chardev=qmp,mode=control",
		"-chardev", "stdio,id=serial0,signal=off",
		"-serial", "chardev:serial0",
	}
	if !slices.Equal(got, want) {
		t.Errorf("args:\n got %q\nwant %q", got, want)
	}
}

func TestArgsOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    []Option
		accel   string
		want    []string // must appear in this order, contiguously
		wantNot []string
	}{
		{"kvm uses the host CPU", nil, "kvm", []string{"-accel", "kvm", "-cpu", "host"}, nil},
		{"memory and cpus", []Option{WithMemory(512), WithCPUs(1)}, "tcg", []string{"-smp", "1", "-m", "512"}, nil},
		{"kernel with initrd and cmdline",
			[]Option{WithKernel("/k/vmlinuz", "/k/initrd", "console=ttyS0 panic=10")}, "tcg",
			[]string{"-kernel", "/k/vmlinuz", "-initrd", "/k/initrd", "-append", "console=ttyS0 panic=10"}, nil},
		{"kernel alone", []Option{WithKernel("/k/vmlinuz", "", "")}, "tcg",
			[]string{"-kernel", "/k/vmlinuz"}, []string{"-initrd", "-append"}},
		{"events port",
			[]Option{WithEvents()}, "tcg",
			[]string{
				"-chardev", "socket,id=events,path=/run/q/events.sock",
				"-device", "virtio-serial-pci,id=virtio-serial0",
				"-device", "virtserialport,bus=virtio-serial0.0,chardev=events,name=kiln.events",
			}, nil},
		{"uefi secure boot",
			[]Option{WithUEFI("/fw/CODE.fd", "/fw/VARS.fd")}, "tcg",
			[]string{
				"-global", "driver=cfi.pflash01,property=secure,value=on",
				"-global", "ICH9-LPC.disable_s3=1",
				"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd",
				"-drive", "if=pflash,format=raw,unit=1,file=/logs/vm.vars.fd",
			}, nil},
		{"uefi turns on smm", []Option{WithUEFI("/fw/CODE.fd", "/fw/VARS.fd")}, "tcg",
			[]string{"-machine", "q35,smm=on"}, nil},
		{"drives boot in option order",
			[]Option{WithCDROM("/img/kiln.iso"), WithDisk("/img/disk.raw")}, "tcg",
			[]string{
				"-drive", "if=none,id=drive0,format=raw,media=cdrom,readonly=on,file=/img/kiln.iso",
				"-device", "ide-cd,drive=drive0,bootindex=1",
				"-drive", "if=none,id=drive1,format=raw,file=/img/disk.raw",
				"-device", "virtio-blk-pci,drive=drive1,bootindex=2",
			}, nil},
		{"commas in paths are escaped", []Option{WithDisk("/img/a,b.raw")}, "tcg",
			[]string{"-drive", "if=none,id=drive0,format=raw,file=/img/a,,b.raw"}, nil},
		{"user network with forwards",
			[]Option{WithUserNet(Forward{HostPort: 50000, GuestPort: 50000}, Forward{HostPort: 8443, GuestPort: 443})}, "tcg",
			[]string{
				"-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:50000-:50000,hostfwd=tcp:127.0.0.1:8443-:443",
				"-device", "virtio-net-pci,netdev=net0",
			}, nil},
		{"tpm",
			[]Option{WithTPM("/state/tpm")}, "tcg",
			[]string{
				"-chardev", "socket,id=chrtpm,path=/run/q/swtpm.sock",
				"-tpmdev", "emulator,id=tpm0,chardev=chrtpm",
				"-device", "tpm-tis,tpmdev=tpm0",
			}, nil},
		{"lab NIC: the tap by name, OVMF's own driver, boots after no drives",
			[]Option{WithLabNIC("kiln-lab-1-1", "vm-a", "52:54:00:12:34:56")}, "tcg",
			[]string{
				"-netdev", "tap,id=lab0,ifname=vm-a,script=no,downscript=no",
				"-device", "virtio-net-pci,netdev=lab0,mac=52:54:00:12:34:56,bootindex=1,romfile=",
			}, []string{"user,id=net0"}},
		{"lab NIC boots after the drives",
			[]Option{WithDisk("/img/disk.raw"), WithLabNIC("kiln-lab-1-1", "vm-a", "52:54:00:12:34:56"), WithCDROM("/img/kiln.iso")}, "tcg",
			[]string{
				"-device", "virtio-blk-pci,drive=drive0,bootindex=1",
				"-drive", "if=none,id=drive1,format=raw,media=cdrom,readonly=on,file=/img/kiln.iso",
				"-device", "ide-cd,drive=drive1,bootindex=2",
				"-netdev", "tap,id=lab0,ifname=vm-a,script=no,downscript=no",
				"-device", "virtio-net-pci,netdev=lab0,mac=52:54:00:12:34:56,bootindex=3,romfile=",
			}, nil},
		{"net boot first, the drives keep their order after it",
			[]Option{WithNetBootFirst(), WithDisk("/img/disk.raw"), WithCDROM("/img/kiln.iso"), WithLabNIC("kiln-lab-1-1", "vm-a", "52:54:00:12:34:56")}, "tcg",
			[]string{
				"-device", "virtio-blk-pci,drive=drive0,bootindex=1",
				"-drive", "if=none,id=drive1,format=raw,media=cdrom,readonly=on,file=/img/kiln.iso",
				"-device", "ide-cd,drive=drive1,bootindex=2",
				"-netdev", "tap,id=lab0,ifname=vm-a,script=no,downscript=no",
				"-device", "virtio-net-pci,netdev=lab0,mac=52:54:00:12:34:56,bootindex=0,romfile=",
			}, nil},
		{"commas in a tap name are escaped", []Option{WithLabNIC("ns", "a,b", "52:54:00:12:34:56")}, "tcg",
			[]string{"-netdev", "tap,id=lab0,ifname=a,,b,script=no,downscript=no"}, nil},
		{"no reboot only when asked", nil, "tcg", nil, []string{"-no-reboot"}},
		{"no reboot", []Option{WithNoReboot()}, "tcg", []string{"-no-reboot"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			cfg.name = "vm"
			for _, o := range tt.opts {
				o(&cfg)
			}
			paths := testPaths
			if !cfg.events {
				paths.eventsSocket = ""
			}
			if cfg.tpm == nil {
				paths.tpmSocket = ""
			}
			got := cfg.args(tt.accel, paths)
			if len(tt.want) > 0 && !containsRun(got, tt.want) {
				t.Errorf("args lack %q:\n%q", tt.want, got)
			}
			for _, a := range tt.wantNot {
				if slices.Contains(got, a) {
					t.Errorf("args have %q:\n%q", a, got)
				}
			}
		})
	}
}

func TestArgsExtraLast(t *testing.T) {
	cfg := defaultConfig()
	WithExtraArgs("-S")(&cfg)
	WithExtraArgs("-device", "foo")(&cfg)
	WithNoReboot()(&cfg)
	got := cfg.args("tcg", testPaths)
	if tail := got[len(got)-4:]; !slices.Equal(tail, []string{"-no-reboot", "-S", "-device", "foo"}) {
		t.Errorf("extra args are not last: %q", got)
	}
}

func TestArgsNoEventsWithoutOption(t *testing.T) {
	cfg := defaultConfig()
	got := strings.Join(cfg.args("tcg", runtimePaths{qmpSocket: "/q"}), " ")
	for _, s := range []string{"virtio-serial", "kiln.events", "pflash", "-kernel", "-netdev", "tpm"} {
		if strings.Contains(got, s) {
			t.Errorf("default args mention %q: %s", s, got)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		opt     Option
		wantErr string
	}{
		{WithMemory(8), "memory 8 MiB"},
		{WithCPUs(0), "cpus 0"},
		{WithAccel("hvf"), `accel "hvf"`},
		{WithKernel("", "initrd", ""), "empty vmlinuz"},
		{WithUserNet(Forward{HostPort: 0, GuestPort: 22}), "forward 0->22"},
		{WithUserNet(Forward{HostPort: 2222, GuestPort: 70000}), "forward 2222->70000"},
		{WithTPM(""), "WithTPM: empty state folder"},
		{WithNetBootFirst(), "WithNetBootFirst needs WithLabNIC"},
		{WithLabNIC("", "vm-a", "52:54:00:12:34:56"), `network namespace ""`},
		{WithLabNIC("../x", "vm-a", "52:54:00:12:34:56"), `network namespace "../x"`},
		{WithLabNIC("ns", "", "52:54:00:12:34:56"), `tap ""`},
		{WithLabNIC("ns", "sixteen-bytes-16", "52:54:00:12:34:56"), `tap "sixteen-bytes-16"`},
		{WithLabNIC("ns", "vm a", "52:54:00:12:34:56"), `tap "vm a"`},
		{WithLabNIC("ns", "vm-a", "52:54:00:12:34"), `MAC "52:54:00:12:34"`},
		{WithLabNIC("ns", "vm-a", "01:00:5e:00:00:01"), `MAC "01:00:5e:00:00:01"`}, // multicast
		{WithLabNIC("ns", "vm-a", "52:54:00:12:34:56"), ""},
		{WithMemory(64), ""},
	}
	for _, tt := range tests {
		cfg := defaultConfig()
		tt.opt(&cfg)
		err := cfg.validate()
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("validate: %v", err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("validate: got %v, want an error with %q", err, tt.wantErr)
		}
	}
}

func TestValidateLabNICAloneOnTheNetwork(t *testing.T) {
	cfg := defaultConfig()
	WithUserNet()(&cfg)
	WithLabNIC("ns", "vm-a", "52:54:00:12:34:56")(&cfg)
	if err := cfg.validate(); err == nil || !strings.Contains(err.Error(), "WithLabNIC with WithUserNet") {
		t.Errorf("lab NIC beside user networking: %v", err)
	}
}

// TestCommand: a VM on a lab runs QEMU under ip netns exec (the whole argv, golden); any
// other VM runs QEMU directly.
func TestCommand(t *testing.T) {
	cfg := defaultConfig()
	cfg.name = "pxe-a"
	WithLabNIC("kiln-lab-42-1", "pxe-a", "52:54:00:aa:bb:cc")(&cfg)
	WithUEFI("/fw/CODE.fd", "/fw/VARS.fd")(&cfg)
	WithDisk("/img/empty.raw")(&cfg)
	WithNetBootFirst()(&cfg)
	WithMemory(2048)(&cfg)
	got := cfg.command("kvm", runtimePaths{qmpSocket: "/run/q/qmp.sock", varsFile: "/logs/pxe-a.vars.fd"})
	want := []string{
		"ip", "netns", "exec", "kiln-lab-42-1",
		"qemu-system-x86_64",
		"-name", "pxe-a",
		"-machine", "q35,smm=on",
		"-accel", "kvm",
		"-cpu", "host",
		"-smp", "2",
		"-m", "2048",
		"-nodefaults",
		"-no-user-config",
		"-display", "none",
		"-device", "virtio-rng-pci",
		"-chardev", "socket,id=qmp,path=/run/q/qmp.sock",
		"-mon", "chardev=qmp,mode=control",
		"-chardev", "stdio,id=serial0,signal=off",
		"-serial", "chardev:serial0",
		"-global", "driver=cfi.pflash01,property=secure,value=on",
		"-global", "ICH9-LPC.disable_s3=1",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=/fw/CODE.fd",
		"-drive", "if=pflash,format=raw,unit=1,file=/logs/pxe-a.vars.fd",
		"-drive", "if=none,id=drive0,format=raw,file=/img/empty.raw",
		"-device", "virtio-blk-pci,drive=drive0,bootindex=1",
		"-netdev", "tap,id=lab0,ifname=pxe-a,script=no,downscript=no",
		"-device", "virtio-net-pci,netdev=lab0,mac=52:54:00:aa:bb:cc,bootindex=0,romfile=",
	}
	if !slices.Equal(got, want) {
		t.Errorf("command:\n got %q\nwant %q", got, want)
	}

	plain := defaultConfig()
	plain.name = "vm"
	if got := plain.command("tcg", runtimePaths{qmpSocket: "/q"}); got[0] != defaultBinary || slices.Contains(got, "netns") {
		t.Errorf("a VM without a lab NIC: %q", got)
	}
}

func TestArgsTPMComesWithFirmware(t *testing.T) {
	cfg := defaultConfig()
	WithTPM("/state/tpm")(&cfg)
	WithUEFI("/fw/CODE.fd", "/fw/VARS.fd")(&cfg)
	got := cfg.args("tcg", testPaths)
	tpm := slices.Index(got, "-tpmdev")
	if tpm < 0 || tpm < slices.Index(got, "if=pflash,format=raw,unit=1,file=/logs/vm.vars.fd") {
		t.Errorf("-tpmdev missing or before the firmware: %q", got)
	}
}

func TestSwtpmArgs(t *testing.T) {
	s := &swtpm{binary: "swtpm", stateDir: "/state/a,b"}
	want := []string{"socket", "--tpm2", "--ctrl", "type=unixio,fd=3", "--log", "fd=4,level=1"}
	if got := s.args(); !slices.Equal(got, want) {
		t.Errorf("swtpm args:\n got %q\nwant %q", got, want)
	}
	if got := s.env(); !slices.Equal(got, []string{"TPM_PATH=/state/a,b"}) {
		t.Errorf("swtpm env = %q", got)
	}
	for _, a := range s.args() {
		if strings.Contains(a, "startup") {
			t.Errorf("swtpm args send TPM2_Startup (%q): that is the firmware's job", a)
		}
	}
}

func TestCommandLine(t *testing.T) {
	got := commandLine([]string{"qemu-system-x86_64", "-append", "console=ttyS0 panic=10", "-name", "it's", "-m", "1024"})
	want := `qemu-system-x86_64 -append 'console=ttyS0 panic=10' -name 'it'\''s' -m 1024`
	if got != want {
		t.Errorf("commandLine:\n got %s\nwant %s", got, want)
	}
}

// containsRun reports whether run appears in s as a contiguous subsequence.
func containsRun(s, run []string) bool {
	for i := 0; i+len(run) <= len(s); i++ {
		if slices.Equal(s[i:i+len(run)], run) {
			return true
		}
	}
	return false
}
