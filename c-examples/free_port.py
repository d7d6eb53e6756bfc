"""Print a free loopback TCP port for the smoke tests, outside the ephemeral range.

A port from bind(("127.0.0.1", 0)) is ephemeral: once released, a test running in parallel
that binds port 0 may get the very same one before our example binds it (a flaky failure
seen under `ctest -j2`). Ports 20000-29999 are below Linux's ephemeral range (32768-60999)
and the named-port range of yoton (49152-65535), so only another smoke test could pick the
same one, at random.
"""
import random
import socket

for _ in range(200):
    port = random.randint(20000, 29999)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    raise SystemExit("no free port found in 20000-29999")
