#!/bin/sh
# Smoke test (ctest example_ide_kernel): the scripted IDE/kernel session runs and ends by itself.
set -eu
out=$(mktemp)
timeout 30 "$1/ide_kernel" >"$out" 2>&1
cat "$out"
grep -q "\[ide1\] out: 42" "$out"
grep -q "\[ide2\] out: 42" "$out"           # both IDEs see the kernel's output
grep -q "\[ide1\] out: hello" "$out"        # also what the other IDE ran
grep -q "\[ide2\] kernel status: Ready" "$out"   # (Busy is shown too, but only 0.2 s long)
grep -q "\[ide2\] signature(print) -> 'print(text)'" "$out"
grep -q "\[ide2\] signature(unknown) -> error: NameError" "$out"
grep -q "\[ide1\] broker: kernel connected" "$out"
grep -q "\[ide2\] broker: kernel exited" "$out"
grep -q "session ok" "$out"
rm -f "$out"
