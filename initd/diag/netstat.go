package diag

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/kiln-os/kiln/api/machine"
)

// tcpStates names the st column of /proc/net/tcp (include/net/tcp_states.h).
var tcpStates = map[string]string{
	"01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1", "05": "FIN_WAIT2",
	"06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}

// unixStates names the St column of /proc/net/unix (socket_state in linux/net.h).
var unixStates = map[string]string{"01": "UNCONNECTED", "02": "CONNECTING", "03": "CONNECTED", "04": "DISCONNECTING"}

// unixAcceptCon is __SO_ACCEPTCON in the Flags column: the socket listens.
const unixAcceptCon = 0x10000

// Netstat lists the sockets of r.Proc/net/{tcp,tcp6,udp,udp6,unix} (the network
// namespace of machined, the host's), each with the process that holds it, if any.
func (r Roots) Netstat() ([]*machine.SocketInfo, error) {
	var out []*machine.SocketInfo
	for _, proto := range []string{"tcp", "tcp6", "udp", "udp6"} {
		socks, err := r.inetSockets(proto)
		if err != nil {
			return nil, err
		}
		out = append(out, socks...)
	}
	socks, err := r.unixSockets()
	if err != nil {
		return nil, err
	}
	out = append(out, socks...)
	owners := r.socketOwners()
	for _, s := range out {
		if o, ok := owners[s.Inode]; ok {
			s.Pid, s.Process = o.pid, o.name
		}
	}
	return out, nil
}

// tableRows are the lines of a /proc/net table after its header; a table the kernel
// lacks (no IPv6) has none.
func (r Roots) tableRows(name string) (string, [][]string, error) {
	path := filepath.Join(r.Proc, "net", name)
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return path, nil, nil
	}
	if err != nil {
		return path, nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	var rows [][]string
	for _, line := range lines[1:] {
		rows = append(rows, strings.Fields(line))
	}
	return path, rows, nil
}

func (r Roots) inetSockets(proto string) ([]*machine.SocketInfo, error) {
	path, rows, err := r.tableRows(proto)
	if err != nil {
		return nil, err
	}
	var out []*machine.SocketInfo
	for i, f := range rows {
		s, err := inetSocket(proto, f)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, i+2, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func inetSocket(proto string, f []string) (*machine.SocketInfo, error) {
	if len(f) < 10 {
		return nil, fmt.Errorf("%d fields, want at least 10", len(f))
	}
	local, err := hexAddrPort(f[1])
	if err != nil {
		return nil, fmt.Errorf("local address %q: %w", f[1], err)
	}
	remote, err := hexAddrPort(f[2])
	if err != nil {
		return nil, fmt.Errorf("remote address %q: %w", f[2], err)
	}
	inode, err := strconv.ParseUint(f[9], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("inode %q: %w", f[9], err)
	}
	state := tcpStates[f[3]]
	if strings.HasPrefix(proto, "udp") && state == "CLOSE" {
		state = "UNCONN" // an unconnected UDP socket, as ss calls it
	}
	return &machine.SocketInfo{Protocol: proto, Local: local, Remote: remote, State: state, Inode: inode}, nil
}

// hexAddrPort decodes "0100007F:0CEA": the address as the kernel's 32-bit words in host
// (little-endian) order, the port big-endian.
func hexAddrPort(s string) (string, error) {
	addrHex, portHex, ok := strings.Cut(s, ":")
	if !ok {
		return "", fmt.Errorf("no ':'")
	}
	raw, err := hex.DecodeString(addrHex)
	if err != nil || (len(raw) != 4 && len(raw) != 16) {
		return "", fmt.Errorf("address is not 8 or 32 hex digits")
	}
	for w := 0; w < len(raw); w += 4 {
		raw[w], raw[w+1], raw[w+2], raw[w+3] = raw[w+3], raw[w+2], raw[w+1], raw[w]
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return "", fmt.Errorf("port: %w", err)
	}
	addr, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(addr.Unmap(), uint16(port)).String(), nil
}

func (r Roots) unixSockets() ([]*machine.SocketInfo, error) {
	path, rows, err := r.tableRows("unix")
	if err != nil {
		return nil, err
	}
	var out []*machine.SocketInfo
	for i, f := range rows {
		if len(f) < 7 {
			return nil, fmt.Errorf("%s line %d: %d fields, want at least 7", path, i+2, len(f))
		}
		inode, err := strconv.ParseUint(f[6], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: inode %q: %w", path, i+2, f[6], err)
		}
		state := unixStates[f[5]]
		if flags, _ := strconv.ParseUint(f[3], 16, 32); flags&unixAcceptCon != 0 {
			state = "LISTEN"
		}
		s := &machine.SocketInfo{Protocol: "unix", State: state, Inode: inode}
		if len(f) > 7 {
			s.Local = f[7]
		}
		out = append(out, s)
	}
	return out, nil
}

type owner struct {
	pid  int32
	name string
}

// socketOwners maps socket inodes to the first process (lowest pid) holding one: the
// fd links of every process read "socket:[INODE]".
func (r Roots) socketOwners() map[uint64]owner {
	owners := map[uint64]owner{}
	pids, _ := r.pids()
	for _, pid := range pids {
		dir := filepath.Join(r.Proc, strconv.Itoa(pid))
		fds, _ := os.ReadDir(filepath.Join(dir, "fd"))
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(dir, "fd", fd.Name()))
			if err != nil {
				continue
			}
			num, ok := strings.CutPrefix(link, "socket:[")
			if !ok {
				continue
			}
			inode, err := strconv.ParseUint(strings.TrimSuffix(num, "]"), 10, 64)
			if _, taken := owners[inode]; err != nil || taken {
				continue
			}
			owners[inode] = owner{pid: int32(pid), name: readString(filepath.Join(dir, "comm"))}
		}
	}
	return owners
}
