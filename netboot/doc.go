// Package netboot is `kiln pxe serve`: the boot server of a lab network, on the builder
// side of the repository (it reads a build's _out; nothing on a node imports it). It
// answers DHCPv4 for machines that network-boot x64 UEFI firmware, and serves them the
// build's signed UKI as kiln.efi over TFTP and HTTP. It must not serve anything but the
// manifest's artifacts under their fixed names, write anything, or route anywhere.
//
// # What it answers
//
// DHCP (RFC 2131), in one of two modes:
//
//   - --range FROM-TO: a full server for an isolated lab. It leases addresses of the
//     interface's subnet, kept in memory per MAC (the same MAC gets the same address
//     back), with a lease time, the subnet mask and its server identifier, and no
//     router (the lab has no uplink). It NAKs a REQUEST for an address it did not offer
//     that client, and stays silent for clients it has no record of (RFC 2131 4.3.2).
//     Clients that are not network booting (no PXEClient or HTTPClient vendor class)
//     get an address and, as the boot file, the UKI's HTTP URL: a netbooted Kiln node
//     leases its address from its own DHCP client, which sends no vendor class, and
//     its installer fetches the UKI from that URL (and verifies it).
//   - --proxy: ProxyDHCP (PXE 2.1, 2.2.2) beside the network's own DHCP server. It
//     answers only a network boot client's DISCOVER on port 67, with an OFFER that has
//     no address (yiaddr 0.0.0.0), the vendor class and the boot file. It hands out no
//     addresses.
//
// In both modes port 4011 answers a PXE client's boot-server REQUEST (PXE 2.1, 2.2.3)
// with an ACK carrying the boot file and no address: EDK2 asks there even after a full
// server's OFFER named the file. Replies carry the boot file in the header's file field
// and in option 67.
//
// Network boot clients are answered by client architecture (option 93): 7 and 9 (x64
// UEFI PXE) get siaddr = the server and the TFTP file kiln.efi; 16 (x64 UEFI HTTP Boot)
// gets the file http://ADDR:PORT/kiln.efi and vendor class HTTPClient. Other
// architectures, and MACs outside --allow-mac, get no reply.
//
// TFTP (RFC 1350, blksize RFC 2348, tsize RFC 2349) is read-only; HTTP is GET and HEAD
// with Range, never a redirect. Both serve the same set: exactly the bytes of the UKI
// that were checked at start (its SHA-256 against the manifest, its Authenticode
// signature against the signer the manifest records and, with --db, against the db
// certificate), held in memory. Absolute names, backslashes, "..", unknown names and
// TFTP writes are refused and logged.
//
// # Trust
//
// DHCP, TFTP and HTTP are unauthenticated: anyone on the lab network can answer in the
// server's place or change bytes in flight. Integrity comes from the firmware: under
// Secure Boot it runs kiln.efi only if its signature verifies against db.
//
// # Log lines
//
// One line per request and one when ready, each starting "pxe: ". Fields are key=value
// separated by single spaces, in this order; "-" stands for none; a value that comes
// from the client and may hold spaces (a refused name, a reason, a Range header) is a
// Go-quoted string. Durations are Go durations in milliseconds ("took=1.234s").
//
//	pxe: serving kiln.efi (sha256 HEX) on IF ADDR/BITS dhcp=range|proxy tftp=:PORT http=:PORT
//	pxe: dhcp EVENT mac=MAC msg=TYPE port=67|4011 arch=N|- ip=ADDR|- file=NAME|URL|- [reason="…"]
//	pxe: tftp sent ip=ADDR file=kiln.efi bytes=N took=D
//	pxe: tftp error ip=ADDR file=kiln.efi bytes=N took=D reason="…"
//	pxe: tftp refuse ip=ADDR file="NAME" reason="…"
//	pxe: http sent ip=ADDR method=GET|HEAD file=kiln.efi status=N bytes=N range="…"|"-" took=D
//	pxe: http refuse ip=ADDR method=M file="PATH" status=N reason="…"
//
// EVENT is offer, ack, nak, release, decline (the lease was updated, no reply), ignore
// (no reply; the reason says why) or error (the reply could not be sent). TYPE is the
// DHCP message type (DISCOVER, REQUEST, INFORM, RELEASE, DECLINE, …). ip is the address
// offered or acknowledged, or the one the message names.
package netboot
