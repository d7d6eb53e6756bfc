#!/bin/sh
# Smoke test (ctest example_objects): the C++ example sends and prints OBJECT values.
set -eu
"$1/objects" 3
