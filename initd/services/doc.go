// Package services decides which long-lived services the node runs and runs them: the
// ServiceSpecController derives one runtime/ServiceSpec per service from the config, the
// API certificate and the boot's progress; the ServiceController reconciles the
// supervisor (package supervisor) to those specs and publishes each service's state as
// runtime/Service. It also knows the API services' users and starts apid on its own in
// maintenance mode, before there is a config to derive anything from.
//
// The room: which services, as data, and the one supervisor that runs them. It must not
// read the config other than through the config resource, issue certificates (package
// apicert does) or decide when the machine shuts down (machined does, and stops the
// supervisor it gets from here).
package services
