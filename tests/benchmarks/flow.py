"""Flow-control scenarios of the benchmark: a sustained rate limit, the default concurrency
against fixed ``-j`` values across latencies, and client CPU per file against the SDK."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.benchmarks.harness import REPO, Harness, Results, WrongResult, make_tree
from tests.measure import Measured, run_cli_measured

FIXED_JOBS = (8, 32, 64, 128)
SDK_SCRIPT = "tests.benchmarks.sdk_upload"


def _failed(run: Measured) -> int:
    """Failed files from ``-o json`` output; every file counts as failed if it did not parse."""
    try:
        return int(json.loads(run.stdout)["summary"]["failed"])
    except (ValueError, KeyError, TypeError):
        return -1


def scenario_rate_limit(h: Harness, results: Results, count: int, rate: int = 10) -> None:
    """Defaults against ``rate`` req/s on every endpoint: no failures, near the floor."""
    print(f"6. Sustained rate limit: {rate} req/s on every endpoint, {count} files, "
          f"defaults, {h.scheme}", flush=True)  # fmt: skip
    root = h.work / "limited"
    expected = make_tree(root, count, 10, 4096)
    limit = f"{rate}/1000"
    with h.fake_server(0.0, media_rate_limit=limit, upload_rate_limit=limit) as base:
        run = h.run(["upload", str(root), "--folder", "/limited", "-o", "json"], base)
        if run.returncode == 2:
            raise WrongResult(f"imagekit upload was refused: {run.stderr[-300:]}")
        state = h.summary(base)
        if run.returncode == 0:
            h.check_exact(base, "/limited", expected)
    failed, floor = _failed(run), count / rate
    rejected = state["statuses"].get("429", 0)
    results.add("6 rate limit", "failed files, exit code",
                f"{failed if failed >= 0 else 'unknown'} failed, exit {run.returncode}; "
                f"{sum(state['requests'].values())} requests, {rejected} answered 429",
                "0 failed", failed == 0 and run.returncode == 0)  # fmt: skip
    results.add("6 rate limit", "wall vs floor (files / rate)",
                f"{run.wall_s:.1f} s, {run.wall_s / floor:.2f}x the floor ({floor:.0f} s)",
                "<= 1.3x", run.wall_s <= 1.3 * floor)  # fmt: skip


def _timed_upload(h: Harness, latency: float, root_args: list[str],
                  expected: dict[str, int]) -> tuple[float, int]:  # fmt: skip
    with h.fake_server(latency) as base:
        run = h.cli(["-q", "upload", *root_args, "--folder", "/auto"], base)
        h.check_exact(base, "/auto", expected)
        return run.wall_s, int(h.summary(base)["peak_in_flight"])


def scenario_auto_concurrency(h: Harness, results: Results, count: int) -> None:
    """The default concurrency (no ``-j``) against the best fixed ``-j`` at each latency."""
    print(f"7. Default concurrency vs fixed -j: {count} x 4 KiB, {h.scheme}", flush=True)
    root = h.work / "auto"
    expected = make_tree(root, count, 20, 4096)
    for latency_ms in (2, 20, 100, 300):
        jobs = (8,) if latency_ms == 2 else FIXED_JOBS
        walls: dict[str, float] = {}
        peaks: dict[str, int] = {}
        for label, extra in [("default", []), *((f"-j {j}", ["-j", str(j)]) for j in jobs)]:
            walls[label], peaks[label] = _timed_upload(h, latency_ms / 1000,
                                                       [str(root), *extra], expected)  # fmt: skip
        best = min((label for label in walls if label != "default"), key=walls.__getitem__)
        ratio = walls["default"] / walls[best]
        limit = 1.15 if latency_ms == 2 else 1.25
        detail = ", ".join(f"{label} {wall:.2f} s" for label, wall in walls.items())
        results.add("7 default concurrency", f"{latency_ms} ms latency",
                    f"{detail}; default peaked at {peaks['default']} in flight; "
                    f"default / {best} = {ratio:.2f}x",
                    f"<= {limit}x {'-j 8' if latency_ms == 2 else 'best -j'}",
                    ratio <= limit)  # fmt: skip


def _cpu_runs(h: Harness, trees: list[tuple[Path, dict[str, int]]],
              run: Callable[[str, Path, str], Measured]) -> list[Measured]:  # fmt: skip
    """One measured run per tree, each against a fresh fake, each checked exactly."""
    measured = []
    for i, (root, expected) in enumerate(trees):
        with h.fake_server(0.0) as base:
            measured.append(run(base, root, f"/cpu{i}"))
            h.check_exact(base, f"/cpu{i}", expected)
    return measured


def scenario_sdk_cpu(h: Harness, results: Results, count: int) -> None:
    """Client CPU per small file: imagekit ``-j 16`` against the SDK in 16 threads.

    Per file = (CPU for ``count`` files - CPU for a few) / the difference, so start-up, lazy
    imports and connection set-up cancel out for both sides.
    """
    print(f"8. Client CPU per file vs the imagekitio SDK (16 threads): {count} x 16 KiB, "
          f"latency 0, {h.scheme}", flush=True)  # fmt: skip
    few = max(16, count // 20)
    trees = [(h.work / f"sdk{n}", make_tree(h.work / f"sdk{n}", n, 20, 16 * 1024))
             for n in (few, count)]  # fmt: skip

    def ours(base: str, root: Path, folder: str) -> Measured:
        return h.cli(["-q", "upload", str(root), "--folder", folder, "-j", "16"], base)

    def sdk(base: str, root: Path, folder: str) -> Measured:
        run = run_cli_measured([str(root), folder], h.env_for(base), REPO, SDK_SCRIPT)
        if run.returncode != 0:
            raise WrongResult(f"the SDK run failed: {run.stderr[-500:]}")
        return run

    per_file = {}
    for name, runner in (("imagekit -j 16", ours), ("imagekitio SDK, 16 threads", sdk)):
        small, large = _cpu_runs(h, trees, runner)
        per_file[name] = (large.cpu_s - small.cpu_s) / (count - few) * 1000
        results.add("8 CPU vs SDK", f"{name}, {h.scheme}",
                    f"{per_file[name]:.2f} ms per file ({large.cpu_s:.2f} s for {count} files, "
                    f"{small.cpu_s:.2f} s for {few}; wall {large.wall_s:.2f} s)")  # fmt: skip
    ratio = per_file["imagekit -j 16"] / per_file["imagekitio SDK, 16 threads"]
    results.add("8 CPU vs SDK", "imagekit / SDK, CPU per file", f"{ratio:.2f}x", "<= 0.6x",
                ratio <= 0.6)  # fmt: skip
