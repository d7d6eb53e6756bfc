#!/bin/sh
# Smoke test (ctest example_cpp_chat): four users in the C++ chat room; everyone hears everyone.
set -eu
out=$(timeout 30 "$1/cpp_chat" alice bob carol dave)
echo "$out"
echo "$out" | grep -q "^\[dave\] alice: hi from alice$"
echo "$out" | grep -q "^\[alice\] dave: hi from dave$"
[ "$(echo "$out" | grep -c "joined$")" -eq 4 ]
echo "$out" | grep -q "^everyone heard everyone$"
