// Package netctl holds the two network controllers. The NetworkSpecController derives
// the network specs (links, addresses, routes, hostname, resolvers, time servers) from
// the config resource; the NetworkController applies them with netlink through package
// network, live where it can (addresses, routes, hostname, resolvers, time servers) and
// by configuring afresh when the links themselves change, and publishes what the network
// is as status resources (links, addresses, routes, hostname, resolvers, time) and
// network/NetworkStatus.
//
// The room: translating between resources and package network. It must not talk netlink
// itself (package network does), read the config other than through its resource, or
// touch resources it does not declare.
package netctl
