"""Property-based tests: hostile file names and folder arguments against the fake server."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagekit_cli.config import Secret, Settings
from imagekit_cli.errors import UsageError
from imagekit_cli.events import NullReporter
from imagekit_cli.naming import normalise_folder, sanitise_folder
from imagekit_cli.planning import Planner, PlanOptions
from imagekit_cli.report import RunReport, Status
from imagekit_cli.runner import EngineSettings
from imagekit_cli.uploading import UploadConfig, run_upload
from tests.conftest import PRIVATE_KEY
from tests.fake_imagekit import FakeServer, FakeState

KEY = Secret(PRIVATE_KEY)
COUNTER = itertools.count()

# Anything a Linux file name may hold: no '/', no NUL, no lone surrogates (those are the
# non-UTF-8 case, tested separately), at most 255 bytes.
name_chars = st.characters(codec="utf-8", exclude_characters="/\x00")
file_names = (
    st.text(name_chars, min_size=1, max_size=40)
    .map(lambda stem: stem + ".jpg")
    .filter(lambda n: len(n.encode()) <= 255 and n not in (".jpg",))
)


@pytest.fixture(scope="module")
def shared_fake() -> Iterator[FakeState]:
    with tempfile.TemporaryDirectory() as storage:
        state = FakeState(Path(storage), private_key=PRIVATE_KEY)
        server = FakeServer(state).start()
        try:
            yield state
        finally:
            server.stop()


def upload_dir(fake: FakeState, sources: list[str], folder: str = "/") -> RunReport:
    config = UploadConfig(Planner(PlanOptions(folder=folder)),
                          engine_settings=EngineSettings(handle_signals=False))  # fmt: skip
    settings = Settings(private_key=KEY, base_url=fake.base_url)
    return asyncio.run(run_upload(sources, config, settings, NullReporter()))


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=file_names)
def test_predicted_remote_path_is_what_imagekit_stores(shared_fake: FakeState, name: str) -> None:
    folder = f"/p{next(COUNTER)}"
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(b"x" * 10)
        report = upload_dir(shared_fake, [str(path)], folder)
    [result] = report.files
    assert result.status == Status.UPLOADED, result.reason
    stored = {p for p in shared_fake.stored_paths() if p.startswith(folder + "/")}
    assert stored == {result.remote_path}
    assert shared_fake.file_at(result.remote_path).name == result.remote_path.rsplit("/", 1)[1]


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(names=st.lists(st.sampled_from(["a b.jpg", "a_b.jpg", "a#b.jpg", "a\tb.jpg", "ab.jpg",
                                       "é.jpg", "e\u0301.jpg", "x y z.jpg", "x_y_z.jpg"]),
                      min_size=1, max_size=6, unique=True))  # fmt: skip
def test_names_that_collide_never_overwrite_each_other(shared_fake: FakeState, names) -> None:
    folder = f"/c{next(COUNTER)}"
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            (Path(tmp) / name).write_bytes(name.encode())
        report = upload_dir(shared_fake, [tmp], folder)
    by_remote: dict[str, list[str]] = {}
    for result in report.files:
        by_remote.setdefault(result.remote_path, []).append(result.status.value)
    stored = {p for p in shared_fake.stored_paths() if p.startswith(folder + "/")}
    for remote, statuses in by_remote.items():
        assert statuses.count("uploaded") == 1  # the first planned wins, the rest fail
        assert statuses.count("failed") == len(statuses) - 1
        assert remote in stored
        assert len(shared_fake.file_at(remote).versions) == 1
    assert len(stored) == len(by_remote)


folder_parts = st.sampled_from(["a", "..", ".", "", "b c", "ü", "//", "\\", "x\ny", "d#e"])


@settings(max_examples=200, deadline=None)
@given(parts=st.lists(folder_parts, max_size=6), lead=st.sampled_from(["", "/", "//", "./"]))
def test_folder_is_normalised_or_refused(parts: list[str], lead: str) -> None:
    raw = lead + "/".join(parts)
    segments = [s for s in raw.replace("\\", "/").split("/") if s not in ("", ".")]
    if ".." in segments or "\n" in raw or not raw or (not segments and raw.strip("/") != ""):
        with pytest.raises(UsageError):
            normalise_folder(raw)
        return
    folder = normalise_folder(raw)
    assert folder.startswith("/")
    assert folder.endswith("/")
    assert "//" not in folder
    segments = folder.strip("/").split("/") if folder != "/" else []
    assert ".." not in segments
    assert "." not in segments
    assert all(c.isalnum() or c in "_-" for s in segments for c in s)  # ImageKit's folder set


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=st.lists(st.sampled_from(["a", ".", "", "b c", "ü", "d#e", "//"]), max_size=5))
def test_uploads_stay_inside_the_target_folder(shared_fake: FakeState, parts) -> None:
    root = f"/t{next(COUNTER)}"
    folder = normalise_folder(root + "/" + "/".join(parts))
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "f.jpg").write_bytes(b"data")
        report = upload_dir(shared_fake, [str(Path(tmp) / "f.jpg")], folder)
    [result] = report.files
    assert result.status == Status.UPLOADED
    assert result.remote_path == sanitise_folder(folder) + "f.jpg"
    assert result.remote_path.startswith(root + "/")
    assert shared_fake.file_at(result.remote_path)
