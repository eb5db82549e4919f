package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sirupsen/logrus"
)

func cmdRun(ctx context.Context, args []string, stdout io.Writer, log *logrus.Logger) error {
	return fmt.Errorf("run: not wired yet")
}
