#!/bin/sh
# Smoke test (ctest example_glib_embed): a GLib main loop receives 6 messages, once with an fd
# watch on yoton's wakeup fd and once through yoton_embed_event_loop; both exit by themselves.
set -eu
out=$(mktemp)
for mode in "" "--embed"; do
    timeout 30 "$1/glib_embed" 6 $mode >"$out" 2>&1
    cat "$out"
    grep -q "received: news #6" "$out"
    grep -q "host: done after 6 messages (ok)" "$out"
done
rm -f "$out"
