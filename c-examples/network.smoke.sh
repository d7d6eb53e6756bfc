#!/bin/sh
# Smoke test (ctest example_network): the multi-hop network runs and every message arrives once.
set -eu
"$1/network"
