"""imagekit-cli benchmark: ``python tests/benchmarks/run.py`` (about 4 minutes).

Starts the fake ImageKit server in its own process with injected latency, runs each
scenario side by side in one run, checks after every upload that the fake holds exactly
the expected files (a fast wrong run fails the benchmark, exit 1), and prints a markdown
table of figures, ratios and targets (issue #6). Not collected by pytest.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import platform
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from tests.measure import run_cli_measured  # noqa: E402

KEY = "private_fake_key_0123456789"
MB = 1024 * 1024


class WrongResult(Exception):
    """The fake does not hold what a scenario should have produced."""


@dataclass
class Row:
    scenario: str
    measure: str
    value: str
    target: str = ""
    met: bool | None = None


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, scenario: str, measure: str, value: str, target: str = "",
            met: bool | None = None) -> None:  # fmt: skip
        self.rows.append(Row(scenario, measure, value, target, met))
        mark = "" if met is None else (" [met]" if met else " [NOT met]")
        print(f"  {measure}: {value}{'  target ' + target if target else ''}{mark}", flush=True)


@contextmanager
def fake_server(latency: float = 0.0, media_rate_limit: str | None = None) -> Iterator[str]:
    """A fresh fake in its own process; yields its base URL."""
    cmd = [sys.executable, "-m", "tests.fake_imagekit", "--latency", str(latency),
           "--plan", "enterprise", "--private-key", KEY]  # fmt: skip
    if media_rate_limit:
        cmd += ["--media-rate-limit", media_rate_limit]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"the fake did not start: {line!r}")
    try:
        yield line.split()[1]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        proc.stdout.close()


def summary(base: str, reset: bool = False) -> dict[str, Any]:
    response = httpx.get(f"{base}/_fake/summary", params={"reset": "1" if reset else "0"},
                         timeout=120)  # fmt: skip
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def env_for(base: str) -> dict[str, str]:
    return {"IMAGEKIT_BASE_URL": base, "IMAGEKIT_PRIVATE_KEY": KEY, "CI": "true"}


def make_tree(root: Path, count: int, folders: int, size: int) -> dict[str, int]:
    """``count`` files in ``folders`` folders; returns relative path -> size."""
    block = os.urandom(size)
    expected = {}
    for f in range(folders):
        (root / f"dir{f:02}").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        rel = f"dir{i % folders:02}/file{i:06}.jpg"
        (root / rel).write_bytes(block[: size - 8] + i.to_bytes(8, "big") if size >= 8 else block)
        expected[rel] = size
    return expected


def check_exact(base: str, folder: str, expected: dict[str, int], versions: int = 1) -> None:
    """The fake holds exactly ``expected`` under ``folder``: count, paths, sizes."""
    files = summary(base)["files"]
    want = {f"{folder}/{rel}": size for rel, size in expected.items()}
    got = {path: meta["size"] for path, meta in files.items()}
    if got != want:
        missing, extra = set(want) - set(got), set(got) - set(want)
        raise WrongResult(f"fake holds {len(got)} files, expected {len(want)}; "
                          f"missing {sorted(missing)[:3]}, extra {sorted(extra)[:3]}")  # fmt: skip
    if any(meta["versions"] > versions for meta in files.values()):
        raise WrongResult("some files were uploaded more than once")


def sequential_loop(base: str, root: Path, expected: dict[str, int], folder: str) -> float:
    """What the ImageKit docs have users write: one upload after another."""
    started = time.monotonic()
    with httpx.Client(timeout=60) as http:
        for rel in expected:
            sub, name = rel.rsplit("/", 1)
            with (root / rel).open("rb") as handle:
                response = http.post(
                    f"{base}/api/v1/files/upload",
                    auth=(KEY, ""),
                    data={
                        "fileName": name,
                        "folder": f"{folder}/{sub}",
                        "useUniqueFileName": "false",
                    },
                    files={"file": (name, handle)},
                )
            response.raise_for_status()
    return time.monotonic() - started


def cli(args: list[str], base: str) -> Any:
    run = run_cli_measured(args, env_for(base))
    if run.returncode != 0:
        raise WrongResult(f"imagekit {' '.join(args[:3])} exited {run.returncode}: "
                          f"{run.stderr[-500:]}")  # fmt: skip
    return run


def scenario_small_files(work: Path, results: Results, count: int) -> None:
    print(f"1. Many small files: {count} x 16 KiB in 20 folders, 50 ms latency", flush=True)
    latency = 0.05
    root = work / "small"
    expected = make_tree(root, count, 20, 16 * 1024)
    with fake_server(latency) as base:
        seq = sequential_loop(base, root, expected, "/seq")
        check_exact(base, "/seq", expected)
    results.add(
        "1 small files", "sequential httpx loop", f"{seq:.1f} s ({count / seq:.0f} files/s)"
    )
    for jobs in (8, 16, 32):
        with fake_server(latency) as base:
            run = cli(["-q", "upload", str(root), "--folder", "/cli", "-j", str(jobs)], base)
            check_exact(base, "/cli", expected)
            peak = summary(base)["peak_in_flight"]
        ideal = count * latency / jobs
        ratio = run.wall_s / ideal
        speedup = seq / run.wall_s
        target = "<= 1.25x ideal, >= 12x loop" if jobs == 16 else ""
        met = (ratio <= 1.25 and speedup >= 12) if jobs == 16 else None
        results.add("1 small files", f"imagekit -j {jobs}",
                    f"{run.wall_s:.2f} s, {count / run.wall_s:.0f} files/s, {ratio:.2f}x ideal "
                    f"({ideal:.2f} s), {speedup:.1f}x the loop, peak in flight {peak}",
                    target, met)  # fmt: skip
        if peak > jobs:
            raise WrongResult(f"-j {jobs} had {peak} requests in flight")


def scenario_cpu_per_file(work: Path, results: Results, count: int) -> None:
    print(f"2. Client CPU per file: {count} x 16 KiB, latency 0", flush=True)
    root = work / "small"
    startup = min(run_cli_measured(["--version"], {}).cpu_s for _ in range(3))
    with fake_server(0.0) as base:
        run = cli(["-q", "upload", str(root), "--folder", "/cpu", "-j", "16"], base)
        check_exact(base, "/cpu", {p.relative_to(root).as_posix(): p.stat().st_size
                                   for p in root.rglob("*.jpg")})  # fmt: skip
    per_file = (run.cpu_s - startup) / count * 1000
    results.add("2 CPU per file", "user+sys per file (startup excluded)",
                f"{per_file:.2f} ms ({run.cpu_s:.2f} s in all, startup {startup:.2f} s)",
                "<= 2 ms", per_file <= 2.0)  # fmt: skip
    with fake_server(0.0) as base:
        profile_path = work / "cli.prof"
        environ = {**os.environ, **env_for(base)}
        subprocess.run([sys.executable, "-m", "cProfile", "-o", str(profile_path), "-m",
                        "imagekit_cli", "-q", "upload", str(root), "--folder", "/prof", "-j", "16"],
                       env=environ, cwd=REPO, check=True, capture_output=True)  # fmt: skip
    buffer = io.StringIO()
    stats = pstats.Stats(str(profile_path), stream=buffer)
    stats.sort_stats("tottime").print_stats(8)
    top = [line for line in buffer.getvalue().splitlines() if "{" in line or ".py:" in line]
    results.notes.append("Top self-time functions (cProfile, -j 16, latency 0):\n```\n"
                         + "\n".join(top[:8]) + "\n```")  # fmt: skip


def scenario_large_file(work: Path, results: Results, size_mb: int) -> None:
    print(f"3. Large file: {size_mb} MiB, latency 0, vs curl", flush=True)
    path = work / "big.mp4"
    block = os.urandom(MB)
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for i in range(size_mb):
            chunk = block[:-4] + i.to_bytes(4, "big")
            digest.update(chunk)
            out.write(chunk)
    size = size_mb * MB
    with fake_server(0.0) as base:
        run = cli(["-q", "upload", str(path), "--folder", "/big", "--any-type", "--plan",
                   "enterprise"], base)  # fmt: skip
        stored = summary(base)["files"].get("/big/big.mp4")
        if not stored or stored["size"] != size or stored["sha256"] != digest.hexdigest():
            raise WrongResult("the large file did not arrive intact")
        started = time.monotonic()
        curl = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-u", f"{KEY}:",
             "-F", "fileName=big.mp4", "-F", "folder=/curl", "-F", "useUniqueFileName=false",
             "-F", f"file=@{path}", f"{base}/api/v1/files/upload"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        curl_s = time.monotonic() - started
        if curl.stdout != "200" or summary(base)["files"]["/curl/big.mp4"]["size"] != size:
            raise WrongResult(f"curl's upload failed: {curl.stdout}")
    cli_rate, curl_rate = size / run.wall_s / MB, size / curl_s / MB
    share = cli_rate / curl_rate
    results.add("3 large file", "imagekit throughput", f"{cli_rate:.0f} MiB/s ({run.wall_s:.2f} s)")
    results.add("3 large file", "curl -F throughput", f"{curl_rate:.0f} MiB/s ({curl_s:.2f} s)")
    results.add("3 large file", "imagekit / curl", f"{share:.0%}", ">= 80%", share >= 0.8)
    results.add("3 large file", "client peak RSS", f"{run.peak_rss_mb:.0f} MB", "<= 80 MB",
                run.peak_rss_mb <= 80)  # fmt: skip
    path.unlink()


def make_empty_tree(root: Path, count: int) -> None:
    for i in range(count):
        folder = root / f"d{i % 100:02}" / f"e{i % 7}"
        if i < 700:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.jpg").write_bytes(b"x")


def scenario_big_trees(work: Path, results: Results, big: int) -> None:
    print(f"4. Big trees: planning {big} files (--dry-run)", flush=True)
    small = big // 10
    for count in (small, big):
        make_empty_tree(work / f"tree{count}", count)
    started = time.monotonic()
    find = subprocess.Popen(["find", str(work / f"tree{big}"), "-type", "f"],
                            stdout=subprocess.PIPE)  # fmt: skip
    found = subprocess.run(["wc", "-l"], stdin=find.stdout, capture_output=True, text=True)
    find.wait()
    find_s = time.monotonic() - started
    if int(found.stdout) != big:
        raise WrongResult("find counted a different tree")
    runs = {}
    for count in (small, big):
        for mode, args in (("streamed", ["-q"]), ("kept, -o json", [])):
            extra = ["-o", "json"] if mode.startswith("kept") else []
            run = run_cli_measured([*args, "upload", str(work / f"tree{count}"), "--dry-run",
                                    *extra], {})  # fmt: skip
            if run.returncode != 0:
                raise WrongResult(run.stderr[-300:])
            runs[count, mode] = run
    plan = runs[big, "streamed"]
    results.add("4 big trees", f"find -type f, wc -l ({big} files)", f"{find_s:.2f} s")
    results.add("4 big trees", f"plan {big} files (-q --dry-run)",
                f"{plan.wall_s:.2f} s ({plan.wall_s / find_s:.0f}x find), "
                f"{plan.peak_rss_mb:.0f} MB", "<= 3 s, <= 150 MB",
                plan.wall_s <= 3 and plan.peak_rss_mb <= 150)  # fmt: skip
    for mode in ("streamed", "kept, -o json"):
        a, b = runs[small, mode], runs[big, mode]
        growth = (b.peak_rss_mb - a.peak_rss_mb) * 1024 * 1024 / (big - small)
        results.add("4 big trees", f"memory growth, {mode}",
                    f"{a.peak_rss_mb:.0f} MB at {small}, {b.peak_rss_mb:.0f} MB at {big} "
                    f"(~{growth:.0f} bytes/file); {b.wall_s:.2f} s at {big}")  # fmt: skip
    with fake_server(0.05) as base:
        environ = {**os.environ, **env_for(base)}
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "imagekit_cli", "-q", "upload",
                                 str(work / f"tree{big}"), "--folder", "/ttfu"],
                                cwd=REPO, env=environ, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        first = None
        while time.monotonic() - started < 30:
            if summary(base)["requests"].get("upload"):
                first = time.monotonic() - started
                break
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
    if first is None:
        raise WrongResult("no upload started within 30 s")
    results.add("4 big trees", f"first upload request, {big}-file tree",
                f"{first:.2f} s after start (planning alone takes {plan.wall_s:.2f} s)",
                "before planning ends", first < plan.wall_s)  # fmt: skip


def scenario_noop_sync(work: Path, results: Results, count: int) -> None:
    print(f"5. No-op sync: {count} files in 20 folders, 50 ms latency, media API 40 req/s",
          flush=True)  # fmt: skip
    root = work / "sync"
    expected = make_tree(root, count, 20, 64)
    state = work / "state"
    environ_extra = {"IMAGEKIT_STATE_DIR": str(state)}
    with fake_server(0.05, media_rate_limit="40/1000") as base:
        env = {**env_for(base), **environ_extra}
        first = run_cli_measured(["-q", "sync", str(root), "/site", "-j", "32"], env)
        if first.returncode != 0:
            raise WrongResult(first.stderr[-300:])
        check_exact(base, "/site", expected)
        summary(base, reset=True)
        second = run_cli_measured(["-q", "sync", str(root), "/site", "-j", "32"], env)
        if second.returncode != 0:
            raise WrongResult(second.stderr[-300:])
        kinds = summary(base)["requests"]
        check_exact(base, "/site", expected)
    lists, uploads = kinds.get("list", 0), kinds.get("upload", 0)
    allowed = 20 + 1 + count // 1000
    results.add("5 no-op sync", "first sync (uploads all)", f"{first.wall_s:.1f} s")
    results.add("5 no-op sync", "second sync: requests",
                f"{uploads} uploads, {lists} list ({dict(sorted(kinds.items()))})",
                f"0 uploads, <= {allowed} list", uploads == 0 and lists <= allowed)  # fmt: skip
    results.add("5 no-op sync", "second sync: wall", f"{second.wall_s:.2f} s", "<= 3 s",
                second.wall_s <= 3)  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = parser.parse_args()
    small, big_mb, tree, sync = (2000, 1024, 100_000, 10_000)
    if args.quick:
        small, big_mb, tree, sync = (200, 64, 10_000, 1_000)
    results = Results()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="imagekit-bench-"))
    try:
        scenario_small_files(work, results, small)
        scenario_cpu_per_file(work, results, small)
        scenario_large_file(work, results, big_mb)
        scenario_big_trees(work, results, tree)
        scenario_noop_sync(work, results, sync)
    except WrongResult as exc:
        print(f"\nBENCHMARK FAILED (wrong result): {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n## imagekit-cli benchmark, {time.strftime('%Y-%m-%d')}\n")
    print(f"Machine: {os.cpu_count()} CPUs, {platform.machine()}, Python "
          f"{platform.python_version()}, {platform.system()} {platform.release()}; "
          f"run took {time.monotonic() - started:.0f} s.\n")  # fmt: skip
    print("| scenario | measure | value | target | met |")
    print("|---|---|---|---|---|")
    for row in results.rows:
        met = "" if row.met is None else ("yes" if row.met else "**no**")
        print(f"| {row.scenario} | {row.measure} | {row.value} | {row.target} | {met} |")
    for note in results.notes:
        print(f"\n{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
