#!/usr/bin/env bash
# Fixture: a deps script whose list lost libprotobuf-dev (the package a fresh machine
# once missed: protoc without google/protobuf/timestamp.proto).
PACKAGES=(
	build-essential # the kernel
	protobuf-compiler
	jq
)
