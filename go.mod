module github.com/kiln-os/kiln

go 1.26.0

require (
	github.com/klauspost/compress v1.20.4
	github.com/sirupsen/logrus v1.10.2
	golang.org/x/sys v0.50.0
	gopkg.in/yaml.v3 v3.0.1
)
