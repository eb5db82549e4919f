package apid

import (
	"time"

	"github.com/kiln-os/kiln/api/machine"
	"github.com/kiln-os/kiln/config"
)

// In maintenance mode anyone who reaches the port may call ApplyConfiguration, and each
// call makes PID 1 decode and validate a config. So there it has a budget of its own per
// peer address (every connection from one address shares it), well below the general
// one: an operator applies a handful of configs, not dozens a second.
const (
	maintenanceApplyRate  = 1.0 / 10 // configs per second per address, sustained
	maintenanceApplyBurst = 5        // configs one address may send at once
)

// maintenanceMaxRecvMsgSize is the largest message apid reads in maintenance mode: a
// config of config.MaxSize and the request's few bytes of framing. Larger ones are
// refused by gRPC before apid holds them, instead of being relayed for machined to refuse.
const maintenanceMaxRecvMsgSize = config.MaxSize + 4<<10

const maintenanceApplyMessage = "too many configs from this address in maintenance mode: wait a minute and retry"

// maintenanceLimits are l with the maintenance message size limit, unless l sets one.
func maintenanceLimits(l Limits) Limits {
	if l.MaxRecvMsgSize <= 0 {
		l.MaxRecvMsgSize = maintenanceMaxRecvMsgSize
	}
	return l
}

// applyBudget is the limiter for ApplyConfiguration in maintenance mode; nil otherwise.
func applyBudget(maintenance bool, now func() time.Time) *limiter {
	if !maintenance {
		return nil
	}
	return newLimiter(maintenanceApplyRate, maintenanceApplyBurst, now)
}

// allowApply takes a token from the caller's apply budget, if the method has one.
func (g *gate) allowApply(method string, c caller) bool {
	return g.applyLimiter == nil || method != machine.MachineService_ApplyConfiguration_FullMethodName || g.applyLimiter.allow(c.bucket)
}
