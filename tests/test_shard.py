"""``--shard auto``: each CI system's own parallel index selects the same files as K/N."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagekit_cli.cli.common import CI_SHARD_VARIABLES, K8S_INDEX, resolve_shard
from imagekit_cli.errors import UsageError
from tests.conftest import CliRecorder, make_file
from tests.fake_imagekit import FakeState


@pytest.fixture(autouse=True)
def no_ci_index(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests may themselves run as a parallel CI job."""
    for index_var, total_var, _, _ in CI_SHARD_VARIABLES:
        monkeypatch.delenv(index_var, raising=False)
        monkeypatch.delenv(total_var, raising=False)
    monkeypatch.delenv(K8S_INDEX, raising=False)


@pytest.mark.parametrize(
    ("env", "spec", "expected"),
    [
        ({"CI_NODE_INDEX": "1", "CI_NODE_TOTAL": "4"}, "auto", (1, 4)),  # GitLab, 1-based
        ({"CI_NODE_INDEX": "4", "CI_NODE_TOTAL": "4"}, "auto", (4, 4)),
        ({"CIRCLE_NODE_INDEX": "0", "CIRCLE_NODE_TOTAL": "3"}, "auto", (1, 3)),  # 0-based
        ({"CIRCLE_NODE_INDEX": "2", "CIRCLE_NODE_TOTAL": "3"}, "auto", (3, 3)),
        ({"BUILDKITE_PARALLEL_JOB": "0", "BUILDKITE_PARALLEL_JOB_COUNT": "2"}, "auto", (1, 2)),
        ({"BUILDKITE_PARALLEL_JOB": "1", "BUILDKITE_PARALLEL_JOB_COUNT": "2"}, "auto", (2, 2)),
        ({"JOB_COMPLETION_INDEX": "0"}, "auto/5", (1, 5)),  # Kubernetes Indexed Job
        ({"JOB_COMPLETION_INDEX": "4"}, "auto/5", (5, 5)),
        ({"CI_NODE_INDEX": "9"}, "2/3", (2, 3)),  # an explicit K/N ignores the environment
    ],
)
def test_shard_auto_maps_each_ci_system(env: dict[str, str], spec: str, expected) -> None:
    assert resolve_shard(spec, env) == expected


@pytest.mark.parametrize(
    ("env", "spec", "message"),
    [
        ({}, "auto", "no parallel job index in the environment"),
        ({"CI_NODE_INDEX": "2"}, "auto", "CI_NODE_TOTAL is not set"),
        ({"CIRCLE_NODE_INDEX": "3", "CIRCLE_NODE_TOTAL": "3"}, "auto", "out of range"),
        ({"CI_NODE_INDEX": "x", "CI_NODE_TOTAL": "3"}, "auto", "CI_NODE_INDEX is 'x'"),
        ({}, "auto/3", "JOB_COMPLETION_INDEX is not set"),
        ({"JOB_COMPLETION_INDEX": "3"}, "auto/3", "out of range"),
        ({"JOB_COMPLETION_INDEX": "0"}, "auto/0", "N must be a whole number"),
    ],
)
def test_shard_auto_errors_name_the_variable(env: dict[str, str], spec: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        resolve_shard(spec, env)


def _planned(cli: CliRecorder, tree: Path, *args: str, env: dict[str, str] | None = None):
    result = cli("upload", str(tree), "--dry-run", "-o", "json", *args, env=env)
    assert result.exit_code == 0, result.stderr
    return {f["path"] for f in json.loads(result.stdout)["files"] if f["status"] == "planned"}


def test_auto_on_gitlab_selects_exactly_what_k_of_n_selects(
    cli: CliRecorder, tmp_path: Path
) -> None:
    for i in range(60):
        make_file(tmp_path / "t" / f"d{i % 3}" / f"{i}.jpg", 20 + i, i)
    explicit = _planned(cli, tmp_path / "t", "--shard", "2/3")
    auto = _planned(cli, tmp_path / "t", "--shard", "auto",
                    env={"CI_NODE_INDEX": "2", "CI_NODE_TOTAL": "3"})  # fmt: skip
    others = _planned(cli, tmp_path / "t", "--shard", "1/3")
    assert auto == explicit
    assert 5 < len(auto) < 60
    assert not auto & others
    k8s = _planned(cli, tmp_path / "t", "--shard", "auto/3", env={"JOB_COMPLETION_INDEX": "1"})
    assert k8s == explicit


def test_auto_without_a_ci_index_is_a_clear_usage_error(cli: CliRecorder, tmp_path: Path) -> None:
    make_file(tmp_path / "a.jpg", 10)
    result = cli("upload", str(tmp_path / "a.jpg"), "--dry-run", "--shard", "auto")
    assert result.exit_code == 2
    assert "--shard auto: no parallel job index in the environment" in result.stderr
    assert "JOB_COMPLETION_INDEX" in result.stderr
    assert "Traceback" not in result.stderr


def test_files_that_collide_meet_in_one_shard(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    tree = tmp_path / "pf"
    for i in range(8):
        make_file(tree / f"a b{i}.png", 10, i)
        make_file(tree / f"a_b{i}.png", 11, 100 + i)
    codes = []
    for k in (1, 2, 3):
        result = cli("upload", str(tree), "--folder", "/shq", "--shard", f"{k}/3", env=env)
        codes.append(result.exit_code)
        assert "collides with" in result.stderr or result.exit_code == 0, result.stderr
    assert 1 in codes  # every pair fails its second file in the shard that holds both
    assert len(fake.stored_paths()) == 8
    assert all(len(fake.file_at(p).versions) == 1 for p in fake.stored_paths())
