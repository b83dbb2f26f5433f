"""Shared by the benchmark scripts: one measurement in a child process, and how it ended."""
from __future__ import annotations
import json, subprocess, time


def run_child(cmd: list[str], rec: dict, timeout: float, env: dict) -> bool:
    """Run `cmd` (a child that prints its measurement as JSON on its last stdout line) and record the outcome in
    `rec`: status 'ok' with the JSON's fields and process_seconds, or 'timeout' / 'error' with a note. True if ok."""
    t0 = time.perf_counter()
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        rec.update(status='timeout', note=f'process killed after {timeout:.0f} s')
        return False
    if cp.returncode != 0:
        err = cp.stderr.strip().splitlines()
        rec.update(status='error', returncode=cp.returncode, note=err[-1][:300] if err else f'exit {cp.returncode}')
        return False
    rec.update(status='ok', **json.loads(cp.stdout.strip().splitlines()[-1]),
               process_seconds=round(time.perf_counter() - t0, 1))
    return True
