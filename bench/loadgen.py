"""A small HTTP/1.1 load generator, run in its own process so it never shares a core's
event loop with the server it measures.

Each of `concurrency` keep-alive connections sends its requests back to back for
`duration` seconds (after `warmup` seconds that are not counted) and times each one.
It speaks just enough HTTP/1.1 for these servers: Content-Length bodies, no chunking.

    python -m bench.loadgen SPEC.json      # prints one JSON object with the figures
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class LoadSpec:
    port: int
    requests: list[str]
    """Whole requests as text (request line, headers, blank line, body), used in turn."""
    concurrency: int
    duration: float
    warmup: float = 1.0


@dataclass
class LoadResult:
    count: int = 0
    seconds: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    return status


async def _connection(spec: LoadSpec, offset: int, start: float, measure_from: float,
                      stop: float, result: LoadResult) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", spec.port)
    payloads = [r.encode() for r in spec.requests]
    index = offset
    try:
        while True:
            sent = time.perf_counter()
            if sent >= stop:
                return
            writer.write(payloads[index % len(payloads)])
            index += 1
            status = await _read_response(reader)
            done = time.perf_counter()
            if sent >= measure_from:
                result.count += 1
                result.latencies_ms.append((done - sent) * 1000)
                key = str(status)
                result.statuses[key] = result.statuses.get(key, 0) + 1
    finally:
        writer.close()


async def run(spec: LoadSpec) -> LoadResult:
    result = LoadResult()
    start = time.perf_counter()
    measure_from = start + spec.warmup
    stop = measure_from + spec.duration
    await asyncio.gather(*(
        _connection(spec, n, start, measure_from, stop, result)
        for n in range(spec.concurrency)
    ))
    # Requests sent before `stop` may finish after it: count the real measured span.
    result.seconds = max(time.perf_counter(), stop) - measure_from
    return result


def request(method: str, path: str, headers: dict[str, str], body: bytes = b"") -> str:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method in {"PUT", "POST"}:
        lines.append(f"Content-Length: {len(body)}")
    return "\r\n".join(lines) + "\r\n\r\n" + body.decode()


def main() -> None:
    spec = LoadSpec(**json.loads(Path(sys.argv[1]).read_text()))
    result = asyncio.run(run(spec))
    print(json.dumps(asdict(result)))


if __name__ == "__main__":
    main()
