"""W7 counted instead of timed: instructions per request in each server, under callgrind.

``python -m benchmarks.instructions`` runs the W7 servers (the service with W3 published as
``hello``, and the bare Tornado handler) under ``valgrind --tool=callgrind``, sends each a
warm-up, then a fixed number of ``POST /execute`` requests, and reads the instructions the
server executed. Two runs per server, with few and with many requests, and the difference
divided by the difference in requests: start-up and warm-up cancel out. Instruction counts
do not move with the load on a shared machine (two runs of one server agree within 0.02 %),
so this tells whether a change to the service's hot path made it cheaper, where timing
cannot see a few per cent. It needs valgrind, and takes about a minute per server (two in all).

Caveat: instructions are not time. The service runs more distinct code per request than
the bare handler, and the caches are cold between requests, so the measured throughput ratio
(W7) is some hundredths below the ratio of these counts.

Under valgrind everything runs about 50 times slower, so the service's proven-fast
threshold (``--inline-threshold-ms``) is raised: its W3 executions then take the path they
take in a normal run, on the event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.http import HOST, _answer, request

#: Requests in the short and the long run of each server (after the warm-up).
FEW, MANY = 400, 2_000
WARM_UP = 200
CONNECTIONS = 8
_TOTAL = re.compile(rb"^(?:summary|totals): (\d+)", re.MULTILINE)


def _serve(kind: str) -> None:
    """The child under valgrind: print the port, serve until standard input closes."""
    from constellation_server.config import ServiceConfig

    from benchmarks.http import serve_until

    def announce(port: int) -> None:
        print(port, flush=True)

    config = ServiceConfig(inline_threshold_ms=1e6)
    asyncio.run(serve_until(kind, config, announce, sys.stdin.fileno()))


async def _send(port: int, count: int) -> None:
    data = request(port)

    async def connection(n: int) -> None:
        reader, writer = await asyncio.open_connection(HOST, port)
        for _ in range(n):
            writer.write(data)
            status = await _answer(reader)
            if status != 200:
                raise RuntimeError(f"the server answered {status}; the count is void")
        writer.close()
        await writer.wait_closed()

    share, rest = divmod(count, CONNECTIONS)
    await asyncio.gather(*(connection(share + (k < rest)) for k in range(CONNECTIONS)))


def instructions(kind: str, requests: int, folder: Path) -> int:
    """Instructions the ``kind`` server executed in its whole life serving ``requests``."""
    out = folder / f"callgrind.{kind}.{requests}"
    command = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        sys.executable,
        "-m",
        "benchmarks.instructions",
        "--serve",
        kind,
    ]
    with subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    ) as server:
        assert server.stdin is not None
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line.strip().isdigit():
            server.kill()
            raise RuntimeError(f"the {kind} server did not start under valgrind")
        port = int(line)
        asyncio.run(_send(port, WARM_UP))
        asyncio.run(_send(port, requests))
        server.stdin.close()  # the server stops; callgrind writes its counts at exit
        if server.wait(120) != 0:
            raise RuntimeError(f"the {kind} server exited with {server.returncode}")
    found = _TOTAL.search(out.read_bytes())
    if found is None:
        raise RuntimeError(f"no instruction total in {out}")
    return int(found.group(1))


def per_request(kind: str, folder: Path, few: int = FEW, many: int = MANY) -> float:
    """Instructions per request: the long run minus the short one, over the extra requests."""
    return (instructions(kind, many, folder) - instructions(kind, few, folder)) / (many - few)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.instructions", description=__doc__)
    parser.add_argument("--serve", choices=("engine", "tornado"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        _serve(args.serve)
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install -y valgrind)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        counts = {kind: per_request(kind, Path(tmp)) for kind in ("tornado", "engine")}
    for kind, count in counts.items():
        print(f"{kind:8s} {count:>12,.0f} instructions per request")
    print(f"ratio    {counts['tornado'] / counts['engine']:>12.3f} (bare Tornado / the service)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
