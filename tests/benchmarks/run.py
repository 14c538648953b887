"""imagekit-cli benchmark: ``python tests/benchmarks/run.py`` (about 12 minutes).

Starts the fake ImageKit server in its own process with injected latency, over https with a
throwaway CA by default (``--http`` for plain http), runs each scenario side by side in one
run, checks after every upload that the fake holds exactly the expected files (a fast wrong
run fails the benchmark, exit 1), and prints a markdown table of figures, ratios and
targets (issues #6 and #12). ``--quick`` for a smoke run, ``--only NAME`` for one scenario.
Not collected by pytest.
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
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import httpx

from tests.benchmarks.flow import (
    scenario_auto_concurrency,
    scenario_rate_limit,
    scenario_sdk_cpu,
)
from tests.benchmarks.harness import (
    KEY,
    MB,
    REPO,
    Harness,
    Results,
    WrongResult,
    make_tree,
)
from tests.measure import run_cli_measured


def sequential_loop(
    h: Harness, base: str, root: Path, expected: dict[str, int], folder: str
) -> float:
    """What the ImageKit docs have users write: one upload after another."""
    started = time.monotonic()
    with httpx.Client(timeout=60, verify=h.verify) as http:
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


def scenario_small_files(h: Harness, results: Results, count: int) -> None:
    print(f"1. Many small files: {count} x 16 KiB in 20 folders, 50 ms latency, {h.scheme}",
          flush=True)  # fmt: skip
    latency = 0.05
    root = h.work / "small"
    expected = make_tree(root, count, 20, 16 * 1024)
    with h.fake_server(latency) as base:
        seq = sequential_loop(h, base, root, expected, "/seq")
        h.check_exact(base, "/seq", expected)
    results.add(
        "1 small files", "sequential httpx loop", f"{seq:.1f} s ({count / seq:.0f} files/s)"
    )
    for jobs in (8, 16, 32):
        with h.fake_server(latency) as base:
            run = h.cli(["-q", "upload", str(root), "--folder", "/cli", "-j", str(jobs)], base)
            h.check_exact(base, "/cli", expected)
            peak = h.summary(base)["peak_in_flight"]
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


def scenario_cpu_per_file(h: Harness, results: Results, count: int) -> None:
    print(f"2. Client CPU per file: {count} x 16 KiB, latency 0, {h.scheme}", flush=True)
    root = h.work / "small"
    if not root.exists():
        make_tree(root, count, 20, 16 * 1024)
    startup = min(run_cli_measured(["--version"], {}).cpu_s for _ in range(3))
    with h.fake_server(0.0) as base:
        run = h.cli(["-q", "upload", str(root), "--folder", "/cpu", "-j", "16"], base)
        h.check_exact(base, "/cpu", {p.relative_to(root).as_posix(): p.stat().st_size
                                   for p in root.rglob("*.jpg")})  # fmt: skip
    per_file = (run.cpu_s - startup) / count * 1000
    results.add("2 CPU per file", "user+sys per file (startup excluded)",
                f"{per_file:.2f} ms ({run.cpu_s:.2f} s in all, startup {startup:.2f} s)",
                "<= 2 ms", per_file <= 2.0)  # fmt: skip
    with h.fake_server(0.0) as base:
        profile_path = h.work / "cli.prof"
        environ = {**os.environ, **h.env_for(base)}
        subprocess.run([sys.executable, "-m", "cProfile", "-o", str(profile_path), "-m",
                        "imagekit_cli", "-q", "upload", str(root), "--folder", "/prof", "-j", "16"],
                       env=environ, cwd=REPO, check=True, capture_output=True)  # fmt: skip
    buffer = io.StringIO()
    stats = pstats.Stats(str(profile_path), stream=buffer)
    stats.sort_stats("tottime").print_stats(8)
    top = [line for line in buffer.getvalue().splitlines() if "{" in line or ".py:" in line]
    results.notes.append("Top self-time functions (cProfile, -j 16, latency 0):\n```\n"
                         + "\n".join(top[:8]) + "\n```")  # fmt: skip


def write_big_file(path: Path, size_mb: int) -> str:
    """A file of ``size_mb`` MiB of distinct random chunks; returns its sha256."""
    block = os.urandom(MB)
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for i in range(size_mb):
            chunk = block[:-4] + i.to_bytes(4, "big")
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def curl_upload(h: Harness, base: str, path: Path, folder: str) -> float:
    """curl -F of ``path`` to the fake's upload API (trusting its CA only); wall seconds."""
    tls = ["--cacert", str(h.ca)] if h.ca else []
    started = time.monotonic()
    curl = subprocess.run(
        ["curl", "-s", *tls, "-o", "/dev/null", "-w", "%{http_code}", "-u", f"{KEY}:",
         "-F", "fileName=big.mp4", "-F", f"folder={folder}", "-F", "useUniqueFileName=false",
         "-F", f"file=@{path}", f"{base}/api/v1/files/upload"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if curl.stdout != "200":
        raise WrongResult(f"curl's upload failed: {curl.stdout} {curl.stderr[-300:]}")
    return time.monotonic() - started


def scenario_large_file(h: Harness, results: Results, size_mb: int, rounds: int = 3) -> None:
    print(f"3. Large file: {size_mb} MiB over {h.scheme}, latency 0, vs curl, best of {rounds} "
          "alternating rounds", flush=True)  # fmt: skip
    path = h.work / "big.mp4"
    sha = write_big_file(path, size_mb)
    size = size_mb * MB
    ours: list[tuple[float, float, float]] = []  # (transfer s, wall s, peak RSS MB)
    theirs: list[tuple[float, float]] = []  # (transfer s, wall s)
    with h.fake_server(0.0) as base:
        for i in range(rounds):
            run = h.cli(["-q", "upload", str(path), "--folder", f"/big{i}", "--any-type",
                         "--plan", "enterprise"], base)  # fmt: skip
            curl_s = curl_upload(h, base, path, f"/curl{i}")
            state = h.summary(base, reset=True)
            for where in (f"/big{i}/big.mp4", f"/curl{i}/big.mp4"):
                stored = state["files"].get(where)
                if not stored or stored["size"] != size or stored["sha256"] != sha:
                    raise WrongResult(f"{where} did not arrive intact")
            ours.append((state["upload_s"][f"/big{i}/big.mp4"], run.wall_s, run.peak_rss_mb))
            theirs.append((state["upload_s"][f"/curl{i}/big.mp4"], curl_s))
    (ours_s, wall, _), (theirs_s, curl_s) = min(ours), min(theirs)
    share, peak = theirs_s / ours_s, max(rss for *_, rss in ours)
    results.add("3 large file", f"imagekit, {h.scheme}",
                f"{size / ours_s / MB:.0f} MiB/s transfer ({ours_s:.2f} s); "
                f"{size / wall / MB:.0f} MiB/s with start-up ({wall:.2f} s)")  # fmt: skip
    results.add("3 large file", f"curl -F, {h.scheme}",
                f"{size / theirs_s / MB:.0f} MiB/s transfer ({theirs_s:.2f} s); "
                f"{size / curl_s / MB:.0f} MiB/s with start-up ({curl_s:.2f} s)")  # fmt: skip
    results.add("3 large file", "imagekit / curl (transfer, best of each)", f"{share:.0%}",
                ">= 90%", share >= 0.9)  # fmt: skip
    results.add("3 large file", "client peak RSS (worst round)", f"{peak:.0f} MB", "<= 80 MB",
                peak <= 80)  # fmt: skip
    path.unlink()


def make_empty_tree(root: Path, count: int) -> None:
    for i in range(count):
        folder = root / f"d{i % 100:02}" / f"e{i % 7}"
        if i < 700:
            folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.jpg").write_bytes(b"x")


def scenario_big_trees(h: Harness, results: Results, big: int) -> None:
    print(f"4. Big trees: planning {big} files (--dry-run)", flush=True)
    small = big // 10
    for count in (small, big):
        make_empty_tree(h.work / f"tree{count}", count)
    started = time.monotonic()
    find = subprocess.Popen(["find", str(h.work / f"tree{big}"), "-type", "f"],
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
            run = run_cli_measured([*args, "upload", str(h.work / f"tree{count}"), "--dry-run",
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
    with h.fake_server(0.05) as base:
        environ = {**os.environ, **h.env_for(base)}
        started = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "imagekit_cli", "-q", "upload",
                                 str(h.work / f"tree{big}"), "--folder", "/ttfu"],
                                cwd=REPO, env=environ, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)  # fmt: skip
        first = None
        while time.monotonic() - started < 30:
            if h.summary(base)["requests"].get("upload"):
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


def scenario_noop_sync(h: Harness, results: Results, count: int) -> None:
    print(f"5. No-op sync: {count} files in 20 folders, 50 ms latency, media API 40 req/s",
          flush=True)  # fmt: skip
    root = h.work / "sync"
    expected = make_tree(root, count, 20, 64)
    state = h.work / "state"
    environ_extra = {"IMAGEKIT_STATE_DIR": str(state)}
    with h.fake_server(0.05, media_rate_limit="40/1000") as base:
        env = {**h.env_for(base), **environ_extra}
        first = run_cli_measured(["-q", "sync", str(root), "/site", "-j", "32"], env)
        if first.returncode != 0:
            raise WrongResult(first.stderr[-300:])
        h.check_exact(base, "/site", expected)
        h.summary(base, reset=True)
        second = run_cli_measured(["-q", "sync", str(root), "/site", "-j", "32"], env)
        if second.returncode != 0:
            raise WrongResult(second.stderr[-300:])
        kinds = h.summary(base)["requests"]
        h.check_exact(base, "/site", expected)
    lists, uploads = kinds.get("list", 0), kinds.get("upload", 0)
    allowed = 20 + 1 + count // 1000
    results.add("5 no-op sync", "first sync (uploads all)", f"{first.wall_s:.1f} s")
    results.add("5 no-op sync", "second sync: requests",
                f"{uploads} uploads, {lists} list ({dict(sorted(kinds.items()))})",
                f"0 uploads, <= {allowed} list", uploads == 0 and lists <= allowed)  # fmt: skip
    results.add("5 no-op sync", "second sync: wall", f"{second.wall_s:.2f} s", "<= 3 s",
                second.wall_s <= 3)  # fmt: skip


# name -> (scenario, full size, --quick size)
SCENARIOS: dict[str, tuple[Callable[[Harness, Results, int], None], int, int]] = {
    "small": (scenario_small_files, 2000, 200),
    "cpu": (scenario_cpu_per_file, 2000, 200),
    "large": (scenario_large_file, 512, 64),
    "trees": (scenario_big_trees, 100_000, 10_000),
    "sync": (scenario_noop_sync, 10_000, 1_000),
    "ratelimit": (scenario_rate_limit, 200, 40),
    "auto": (scenario_auto_concurrency, 1500, 200),
    "sdk": (scenario_sdk_cpu, 1000, 200),
}


def print_table(results: Results, started: float, scheme: str) -> None:
    print(f"\n## imagekit-cli benchmark, {time.strftime('%Y-%m-%d')}, over {scheme}\n")
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--http", action="store_true",
                        help="plain http (the default is https with a self-signed CA)")  # fmt: skip
    names = ", ".join(SCENARIOS)
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS), metavar="NAME",
                        help=f"only these scenarios (repeatable): {names}")  # fmt: skip
    args = parser.parse_args()
    results = Results()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="imagekit-bench-"))
    harness = Harness(work, None if args.http else work / "fake-ca.pem")
    try:
        for name in args.only or list(SCENARIOS):
            scenario, full, quick = SCENARIOS[name]
            scenario(harness, results, quick if args.quick else full)
    except WrongResult as exc:
        print(f"\nBENCHMARK FAILED (wrong result): {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_table(results, started, harness.scheme)
    return 0


if __name__ == "__main__":
    sys.exit(main())
