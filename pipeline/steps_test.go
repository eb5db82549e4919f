package pipeline

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	logtest "github.com/sirupsen/logrus/hooks/test"

	"github.com/kiln-os/kiln/bootloader"
	"github.com/kiln-os/kiln/bootloader/keys"
	"github.com/kiln-os/kiln/rootfs"
	"github.com/kiln-os/kiln/uki/pcrsig"
	"github.com/kiln-os/kiln/uki/pe"
)

const testEpoch = 1700000000

func testEnv(t *testing.T) stepEnv {
	log, _ := logtest.NewNullLogger()
	return stepEnv{CacheDir: t.TempDir(), Log: log}
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var (
	testKeysOnce sync.Once
	testKeysSet  *keys.Set
	testKeysErr  error
)

// testKeys generates one key set for the whole test binary: RSA generation is the slow part.
func testKeys(t *testing.T) *keys.Set {
	t.Helper()
	testKeysOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kiln-pipeline-keys-")
		if err != nil {
			testKeysErr = err
			return
		}
		defer os.RemoveAll(dir)
		log, _ := logtest.NewNullLogger()
		testKeysSet, testKeysErr = stepKeys(context.Background(), keysIn{Dir: filepath.Join(dir, "keys"), Generate: true, Owner: "Kiln test", Epoch: testEpoch, Log: log})
	})
	if testKeysErr != nil {
		t.Fatal(testKeysErr)
	}
	return testKeysSet
}

// Keys come before everything else: without them Run fails in the keys step, says how to
// make keys, and neither the kernel step nor the output directory is touched.
func TestRunWithoutKeysFailsBeforeTheKernel(t *testing.T) {
	repo := t.TempDir()
	spec := Defaults()
	spec.SourceDateEpoch = testEpoch
	log, _ := logtest.NewNullLogger()
	var summary strings.Builder
	b := &Build{Spec: spec, RepoDir: repo, CacheDir: filepath.Join(repo, "cache"), Log: log, Summary: &summary}
	err := b.Run(context.Background())
	// The summary still comes, naming the step that failed.
	if len(b.Steps) != 1 || b.Steps[0].Name != "keys" || !b.Steps[0].Failed || !regexp.MustCompile(`(?m)^ *keys +\S+ +failed$`).MatchString(summary.String()) {
		t.Errorf("steps %+v, summary:\n%s", b.Steps, summary.String())
	}
	if !errors.Is(err, ErrKeys) || !strings.HasPrefix(err.Error(), "step keys: ") || !strings.Contains(err.Error(), keys.HowToGenerate) {
		t.Fatalf("err = %v, want the keys step's ErrKeys saying how to generate them", err)
	}
	for _, dir := range []string{filepath.Join(repo, "cache", "kernel"), filepath.Join(repo, "_out")} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s exists after a build without keys: %v", dir, err)
		}
	}
}

func TestKeysStepGeneratesOnlyWhenAllowedAndOnlyOnce(t *testing.T) {
	log, _ := logtest.NewNullLogger()
	in := keysIn{Dir: filepath.Join(t.TempDir(), "keys"), Owner: "Kiln test", Epoch: testEpoch, Log: log}
	if _, err := stepKeys(context.Background(), in); !errors.Is(err, ErrKeys) {
		t.Fatalf("no keys, no Generate: err = %v, want ErrKeys", err)
	}
	in.Generate = true
	made, err := stepKeys(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if cn := made.DB.Cert.Subject.CommonName; !strings.HasPrefix(cn, "Kiln test") {
		t.Errorf("db common name %q does not start with the owner", cn)
	}
	if !made.DB.Cert.NotBefore.Equal(time.Unix(testEpoch, 0)) {
		t.Errorf("db NotBefore = %v, want the epoch", made.DB.Cert.NotBefore)
	}
	loaded, err := stepKeys(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if !loaded.DB.Cert.Equal(made.DB.Cert) {
		t.Error("a second run with Generate replaced the existing keys")
	}
}

// A cache key comes from what a step reads, not from where: the same bytes at other paths,
// logged elsewhere, hit the entry; any changed input misses it.
func TestInitramfsCacheKeyIsTheInputsAlone(t *testing.T) {
	here, there := t.TempDir(), t.TempDir()
	in := initramfsIn{Machined: writeFile(t, here, "machined", "init"), Rootfs: writeFile(t, here, "rootfs.sqsh", "root"), Epoch: testEpoch, stepEnv: testEnv(t)}
	first := runInitramfs(t, in)
	moved := in
	moved.Machined, moved.Rootfs = writeFile(t, there, "m", "init"), writeFile(t, there, "r", "root")
	moved.Log, _ = logtest.NewNullLogger()
	if got := runInitramfs(t, moved); got != first {
		t.Errorf("same inputs at other paths: %s, want the cached %s", got, first)
	}
	for name, change := range map[string]func(*initramfsIn){
		"epoch":    func(in *initramfsIn) { in.Epoch++ },
		"machined": func(in *initramfsIn) { in.Machined = writeFile(t, there, "m2", "init2") },
		"rootfs":   func(in *initramfsIn) { in.Rootfs = writeFile(t, there, "r2", "root2") },
	} {
		changed := in
		change(&changed)
		if got := runInitramfs(t, changed); got == first {
			t.Errorf("changed %s hit the old entry", name)
		}
	}
}

func runInitramfs(t *testing.T, in initramfsIn) string {
	t.Helper()
	out, err := stepInitramfs(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return out.Initramfs
}

func TestRootfsCacheKeyIsTheInputsAlone(t *testing.T) {
	here, there := t.TempDir(), t.TempDir()
	in := rootfsIn{Name: "kiln", Version: "1.0", CABundle: writeFile(t, here, "ca.crt", "ca"),
		Runtime: fakeRuntime(t, here), Compression: "zstd", Epoch: testEpoch, stepEnv: testEnv(t)}
	first := runRootfs(t, in)
	moved := in
	moved.CABundle, moved.Runtime = writeFile(t, there, "c", "ca"), fakeRuntime(t, there)
	if got := runRootfs(t, moved); got != first {
		t.Errorf("same inputs at other paths: %s, want the cached %s", got, first)
	}
	for name, change := range map[string]func(*rootfsIn){
		"version":    func(in *rootfsIn) { in.Version = "1.1" },
		"name":       func(in *rootfsIn) { in.Name = "other" },
		"ca":         func(in *rootfsIn) { in.CABundle = writeFile(t, there, "c2", "ca2") },
		"epoch":      func(in *rootfsIn) { in.Epoch++ },
		"containerd": func(in *rootfsIn) { in.Runtime.Containerd = writeFile(t, there, "containerd2", "containerd2") },
		"runc":       func(in *rootfsIn) { in.Runtime.Runc = writeFile(t, there, "runc2", "runc2") },
		"containerd config": func(in *rootfsIn) {
			in.Runtime.Config = writeFile(t, there, "config2.toml", "version = 4\noom_score = 0\n")
		},
		"esp payload": func(in *rootfsIn) {
			in.ESPPayload = []rootfs.File{{Path: "loader/loader.conf", Data: []byte("timeout 0\n")}}
		},
	} {
		changed := in
		change(&changed)
		if got := runRootfs(t, changed); got == first {
			t.Errorf("changed %s hit the old entry", name)
		}
	}
}

// fakeRuntime writes stand-ins for the runtime's files into dir (the same bytes each call).
func fakeRuntime(t *testing.T, dir string) rootfs.Runtime {
	t.Helper()
	return rootfs.Runtime{
		Containerd: writeFile(t, dir, "containerd", "containerd"),
		Runc:       writeFile(t, dir, "runc", "runc"),
		Config:     writeFile(t, dir, "config.toml", "version = 4\n"),
	}
}

func runRootfs(t *testing.T, in rootfsIn) string {
	t.Helper()
	out, err := stepRootfs(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return out.Squashfs
}

// requirePinned skips a test on a host without the pinned systemd-boot-efi file.
func requirePinned(t *testing.T, path, sha string) {
	t.Helper()
	if _, err := readPinned(path, sha, StubPackage); err != nil {
		t.Skip(err)
	}
}

// The UKI step's output describes the image it wrote: every section in systemd-stub's
// order with the digest of the bytes in the signed file, and PCR 11 predicted in both banks.
func TestUKIStepOutputDescribesTheImage(t *testing.T) {
	requirePinned(t, StubPath, StubSHA256)
	set, dir := testKeys(t), t.TempDir()
	in := ukiIn{Vmlinuz: writeFile(t, dir, "vmlinuz", "not a kernel"), Initramfs: writeFile(t, dir, "initrd", "not an initrd"),
		KernelRelease: "6.1.0-test", Name: "kiln", Version: "1.0", Cmdline: "console=ttyS0",
		DB: set.DB, PCR: set.PCR, Epoch: testEpoch, stepEnv: testEnv(t)}
	out, err := stepUKI(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	image, err := os.ReadFile(out.Path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := pe.Parse(image)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sec := range out.Info.Sections {
		names = append(names, sec.Name)
		h := f.Section(sec.Name)
		if h == nil {
			t.Errorf("section %s is in the output but not in the image", sec.Name)
		} else if got := sha256Hex(f.SectionData(h)); got != sec.SHA256 {
			t.Errorf("section %s: image has %s, output says %s", sec.Name, got, sec.SHA256)
		}
	}
	if got, want := strings.Join(names, " "), ".osrel .cmdline .uname .sbat .linux .initrd .pcrpkey .pcrsig"; got != want {
		t.Errorf("sections %s, want %s", got, want)
	}
	if out.Info.Signer != certFingerprint(set.DB.Cert.Raw) {
		t.Error("signer is not the db certificate")
	}
	for _, bank := range pcrBanks {
		if len(out.PCR11[bank][pcrsig.PhaseUKI]) != bank.Size() || len(out.PCR11[bank][UnsealPhase]) != bank.Size() {
			t.Errorf("bank %v: PCR 11 predictions %x", bank, out.PCR11[bank])
		}
	}
	again, err := stepUKI(context.Background(), in)
	if err != nil || again.Path != out.Path {
		t.Errorf("same inputs again: %s, %v; want the cached %s", again.Path, err, out.Path)
	}
}

// The ISO is a function of its inputs: two runs into different directories write the same
// bytes.
func TestISOStepIsReproducible(t *testing.T) {
	requirePinned(t, bootloader.SystemdBootSource, SystemdBootSHA256)
	set := testKeys(t)
	boot, err := stepBootloader(context.Background(), bootloaderIn{DB: set.DB, stepEnv: testEnv(t)})
	if err != nil {
		t.Fatal(err)
	}
	in := mediaIn{Name: "kiln", Version: "1.0", Epoch: testEpoch, SystemdBoot: boot.SystemdBoot,
		UKI: writeFile(t, t.TempDir(), "uki.efi", "signed image"), Keys: set}
	var images [2][]byte
	for i := range images {
		in.Dir = t.TempDir()
		out, err := stepISO(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		if images[i], err = os.ReadFile(out.Path); err != nil {
			t.Fatal(err)
		}
	}
	if sha256Hex(images[0]) != sha256Hex(images[1]) {
		t.Error("two ISO builds of the same inputs differ")
	}
}
