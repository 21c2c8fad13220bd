#!/usr/bin/env python3
"""bench/stall/probe.py ADDRESS STOP_FILE [MAX_SECONDS]: watches an agent until STOP_FILE exists.

Every 20 ms it asks the status server for /healthz; one agent thread serves it, so the slowest
answer is the longest stretch the event loop was blocked. Every 100 ms it reads /status and notes
when the election's round counter moves: the largest gap between two moves is the largest gap
between election rounds (renewals of the lease), and keeps the agent's own loop figures (/status
`loop`: the most CPU one stretch of work held the loop, the latest tick; n/a for a binary without
them). Prints one line of key=value figures."""
import json
import os
import socket
import sys
import time

host, port = sys.argv[1].rsplit(":", 1)
stop_file = sys.argv[2]
deadline = time.monotonic() + float(sys.argv[3] if len(sys.argv) > 3 else 600)


def get(path):
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in data else b""


worst = 0.0
n = failed = 0
rounds = None
last_move = None
round_gap = 0.0
election = {}
loop = {}
last_status = 0.0
while not os.path.exists(stop_file) and time.monotonic() < deadline:
    t0 = time.monotonic()
    try:
        get("/healthz")
    except OSError:
        failed += 1
    took = time.monotonic() - t0
    n += 1
    worst = max(worst, took)
    if t0 - last_status >= 0.1:
        last_status = t0
        try:
            doc = json.loads(get("/status"))
            election = doc["election"]
            loop = doc.get("loop", {})
            now = time.monotonic()
            if election["rounds"] != rounds:
                if last_move is not None and rounds is not None:
                    round_gap = max(round_gap, now - last_move)
                rounds, last_move = election["rounds"], now
        except (OSError, ValueError, KeyError):
            failed += 1
    time.sleep(max(0.0, 0.02 - took))
def ms(value):
    return "n/a" if value is None else f"{value:.0f}"


print(f"healthz_requests={n} healthz_worst_ms={worst * 1000:.0f} round_gap_ms={round_gap * 1000:.0f} "
      f"rounds={election.get('rounds')} failed_rounds={election.get('failed_rounds')} "
      f"step_downs={election.get('step_downs')} is_leader={str(election.get('is_leader')).lower()} "
      f"probe_failures={failed} loop_busy_ms={ms(loop.get('max_busy_ms'))} "
      f"loop_late_ms={ms(loop.get('max_late_ms'))}")
