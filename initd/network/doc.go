// Package network is machined's Network boot phase: it brings links up, addresses them
// (static addresses from the machine config, DHCPv4 leases otherwise), installs routes,
// names the node (hostname, resolv.conf) and keeps the clock in step over SNTP.
//
// It is the room for node networking inside PID 1. It takes a Spec that mirrors the
// network section of the machine config but never parses or imports the config itself;
// it reports what it did as Status values and never touches the resource store. The only
// files it writes are the resolv.conf path it is given (atomically) and each configured
// link's promote_secondaries sysctl; the hostname and the clock go through setters in
// Options so tests leave the host alone. Update applies a new Spec to a running network.
//
// # Configure
//
//  1. bring lo up;
//  2. choose the links: the Spec's interfaces, or, when it names none, every physical
//     link (not lo, veth, bridge, dummy, …) that has carrier, each with DHCP;
//  3. per link: set the MTU, bring it up, keep secondary addresses when the primary goes,
//     add static addresses and routes;
//  4. on DHCP links acquire a lease (address with the lease lifetime, router as default
//     route with metric 1024) and keep renewing it in the background until ctx ends;
//  5. wait (bounded by Options.DHCPWait) for the DHCP links; fail, naming the links that
//     got nothing, only when no link other than lo has an address;
//  6. write resolv.conf and set the hostname, and again whenever a lease changes them;
//  7. start time sync in the background: it never blocks the boot.
package network
