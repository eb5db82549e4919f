#!/usr/bin/env bash
# Regenerate the Go code for every .proto under api/ with Debian's protoc and the plugin
# versions pinned as tools in go.mod. `make generate` runs it; generate_test.go runs it into
# a temporary directory to check that the committed *.pb.go are current.
#
# usage: api/generate.sh [OUTDIR]   (default: api/ itself)
set -euo pipefail

api="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$(mkdir -p "${1:-$api}" && cd "${1:-$api}" && pwd)"
cd "$api"

gen_go="$(go tool -n protoc-gen-go)"
gen_grpc="$(go tool -n protoc-gen-go-grpc)"
protos=(machine/machine.proto security/security.proto)

protoc -I "$api" \
	--plugin=protoc-gen-go="$gen_go" --go_out="$out" --go_opt=paths=source_relative \
	--plugin=protoc-gen-go-grpc="$gen_grpc" --go-grpc_out="$out" --go-grpc_opt=paths=source_relative \
	"${protos[@]}"
