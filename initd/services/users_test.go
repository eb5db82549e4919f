package services

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// The attacks below are apid's (uid 50) after a compromise: it owns what root gives it
// and tries to turn one of root's chowns onto a file of its choosing, such as
// /dev/tpmrm0. A root-owned file in the test's directory stands for that device.

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("the symlink attacks need root: root's chown to another user is what is attacked")
	}
}

// victim is a root-owned file, mode 0600, that apid must never come to own.
func victim(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "tpmrm0")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func checkStillRoots(t *testing.T, path string) {
	t.Helper()
	if !rootOwns(t, path) {
		fi, _ := os.Lstat(path)
		st := fi.Sys().(*syscall.Stat_t)
		t.Errorf("%s is now %d:%d %s: root chowned or chmodded it through a symlink", path, st.Uid, st.Gid, fi.Mode())
	}
}

func rootOwns(t *testing.T, path string) bool {
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid == 0 && st.Gid == 0 && fi.Mode().Perm() == 0o600
}

// TestWriteSecretsDoesNotChownThroughSwappedFile races apid swapping a symlink to the
// victim in over each secret's name, as it can in a directory it may write, while root
// writes the secrets again and again.
func TestWriteSecretsDoesNotChownThroughSwappedFile(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	target := victim(t, base)
	u := User{UID: 50, GID: 50, Dir: filepath.Join(base, "apid")}
	secrets := map[string][]byte{"server.key": []byte("key")}
	if err := u.WriteSecrets(secrets); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		link := u.Path(".swap")
		for {
			select {
			case <-stop:
				return
			default:
			}
			os.Symlink(target, link)
			os.Rename(link, u.Path("server.key"))
		}
	}()
	// Before the fix the race was won within the first rounds (10-30 ms on 2 CPUs).
	for i := 0; i < 2000 && rootOwns(t, target); i++ {
		u.WriteSecrets(secrets) // errors are expected while the attacker holds the name
	}
	close(stop)
	wg.Wait()
	checkStillRoots(t, target)
}

// TestWriteSecretsRefusesSymlinkedDir: the user's directory is a symlink to a directory
// of root's; WriteSecrets must neither chown it nor write into it.
func TestWriteSecretsRefusesSymlinkedDir(t *testing.T) {
	requireRoot(t)
	base := t.TempDir()
	rootDir := filepath.Join(base, "root-only")
	if err := os.Mkdir(rootDir, 0o700); err != nil {
		t.Fatal(err)
	}
	u := User{UID: 50, GID: 50, Dir: filepath.Join(base, "apid")}
	if err := os.Symlink(rootDir, u.Dir); err != nil {
		t.Fatal(err)
	}
	if err := u.WriteSecrets(map[string][]byte{"server.key": []byte("key")}); err == nil {
		t.Error("WriteSecrets wrote through a symlinked directory")
	}
	fi, err := os.Stat(rootDir)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 || st.Gid != 0 || fi.Mode().Perm() != 0o700 {
		t.Errorf("root's directory is now %d:%d %s", st.Uid, st.Gid, fi.Mode())
	}
	if entries, _ := os.ReadDir(rootDir); len(entries) != 0 {
		t.Errorf("root's directory holds %v", entries)
	}
}

// TestWriteSecretsOwnership: the services only read their directory, so it is root's
// (group: the service's, 0750) and the user cannot put anything in it; each secret is
// the user's, 0600.
func TestWriteSecretsOwnership(t *testing.T) {
	requireRoot(t)
	u := User{UID: 50, GID: 51, Dir: filepath.Join(t.TempDir(), "apid")}
	if err := u.WriteSecrets(map[string][]byte{"a.key": []byte("one"), "b.crt": []byte("two")}); err != nil {
		t.Fatal(err)
	}
	checkOwner(t, u.Dir, 0, 51, os.ModeDir|0o750)
	checkOwner(t, u.Path("a.key"), 50, 51, 0o600)
	checkOwner(t, u.Path("b.crt"), 50, 51, 0o600)
	if data, err := os.ReadFile(u.Path("b.crt")); err != nil || string(data) != "two" {
		t.Errorf("b.crt = %q, %v", data, err)
	}
	if entries, _ := os.ReadDir(u.Dir); len(entries) != 2 {
		t.Errorf("directory holds %v, want the two secrets and no temporaries", entries)
	}
}

func checkOwner(t *testing.T, path string, uid, gid uint32, mode os.FileMode) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid || st.Gid != gid || fi.Mode() != mode {
		t.Errorf("%s is %d:%d %s, want %d:%d %s", path, st.Uid, st.Gid, fi.Mode(), uid, gid, mode)
	}
}
