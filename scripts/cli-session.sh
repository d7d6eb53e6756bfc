#!/bin/bash
# Replays the session of docs/cli.md and prints its transcript: the yoton tool against nodes
# written with the original Python yoton (scripts/cli-session-nodes.py), on loopback ports
# 5100-5104.
#
#   scripts/cli-session.sh [DIR]    # DIR holds the yoton binary (default: build, else PATH)
#
# Environment: YOTON_VENV (default ./venv): a Python with pyzo==4.22.0.
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export PATH="${1:-$root/build}:${YOTON_VENV:-$root/venv}/bin:$PATH"
N=scripts/cli-session-nodes.py
show() { echo "\$ $*"; eval "$@" 2>&1; rc=$?; [ $rc -ne 0 ] && echo "# (exit status $rc)"; }
echo '$ python scripts/cli-session-nodes.py publisher localhost:5100 > /dev/null &'
python $N publisher localhost:5100 --seconds 30 >/dev/null 2>&1 & P1=$!
sleep 1.2
show yoton sub localhost:5100 news --count 3
show yoton sub localhost:5100 news --count 2 --format json
show yoton sub localhost:5100 temps --type object --count 2
show yoton sub localhost:5100 temps --type object --format hex --count 1
show yoton sub localhost:5100 nothing-here --timeout 1
kill $P1; wait $P1 2>/dev/null
echo
echo '$ python scripts/cli-session-nodes.py replier localhost:5101 > /dev/null &'
python $N replier localhost:5101 --seconds 30 >/dev/null 2>&1 & P2=$!
sleep 1.2
show yoton req localhost:5101 calc add "'[2, 40]'"
show yoton req localhost:5101 calc add "'[[1, 2], [3]]'"
show yoton req localhost:5101 calc upper "'\"héllo\"'"
show yoton req localhost:5101 calc fail "'[\"bad input\"]'"
show yoton req localhost:5101 calc mul "'[6, 7]'"
show yoton req localhost:5101 calc add "'[1, 2'"
show yoton req localhost:5101 other add "'[1, 2]'" --timeout 1
kill $P2; wait $P2 2>/dev/null
show yoton req localhost:5101 calc add "'[1, 2]'"
echo
echo '$ python scripts/cli-session-nodes.py state localhost:5102 &'
python $N state localhost:5102 --seconds 30 2>&1 & P3=$!
sleep 1.2
show yoton state localhost:5102 status --type object
show yoton state localhost:5102 status --type object "'{\"phase\": \"busy\", \"jobs\": {\"\$tuple\": [3]}}'"
sleep 0.5
show yoton state localhost:5102 status --type object
kill $P3; wait $P3 2>/dev/null
echo
echo '$ yoton monitor --bind localhost:5103 localhost:5104 --slot news --slot status --slot calc --duration 2.5 &'
echo '$ python scripts/cli-session-nodes.py network 5103 5104 --seconds 2 > /dev/null'
yoton monitor --bind localhost:5103 localhost:5104 --slot news --slot status --slot calc --duration 2.5 2>&1 & M=$!
sleep 0.3
python $N network 5103 5104 --seconds 2 >/dev/null 2>&1
wait $M
