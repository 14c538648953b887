"""The GitHub Action (action.yml): documented inputs, the README's install, and a real run."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from tests.conftest import make_file
from tests.fake_imagekit import FakeState

REPO = Path(__file__).resolve().parent.parent
ACTION = (REPO / "action.yml").read_text()
README = (REPO / "README.md").read_text()
DIST = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["name"]


def _section(name: str) -> str:
    match = re.search(rf"^{name}:\n(.*?)(?=^\S|\Z)", ACTION, re.S | re.M)
    assert match, f"action.yml has no {name}: section"
    return match.group(1)


def _keys(section: str) -> list[str]:
    return re.findall(r"^  ([a-z][\w-]*):\n", section, re.M)


def _step_script(step_id: str) -> str:
    steps = _section("runs").split("\n    - name:")
    step = next(s for s in steps if re.search(rf"^      id: {step_id}$", s, re.M))
    body = step.split("      run: |\n", 1)[1]
    return textwrap.dedent(body)


def _readme_action_section() -> str:
    start = README.index("### The GitHub Action")
    return README[start : README.index("\n## ", start)]


def test_action_is_composite_and_every_input_and_output_is_described() -> None:
    assert re.search(r"^  using: composite$", ACTION, re.M)
    inputs, outputs = _keys(_section("inputs")), _keys(_section("outputs"))
    assert {"paths", "folder", "args", "version"} <= set(inputs)
    assert {"report", "uploaded", "skipped", "failed"} <= set(outputs)
    for name in inputs + outputs:
        block = re.search(rf"^  {name}:\n((?:    .*\n)+)", ACTION, re.M)
        assert block, name
        assert "description:" in block.group(1), f"{name} has no description"


def test_readme_documents_every_input_and_output() -> None:
    section = _readme_action_section()
    assert "uses: " in section
    for name in _keys(_section("inputs")) + _keys(_section("outputs")):
        assert f"`{name}`" in section, f"README's action section does not document {name}"


def test_action_installs_the_way_the_readme_does() -> None:
    install = _step_script(step_id="install") if "id: install" in ACTION else ""
    assert install, "the install step needs id: install"
    assert f'pip" install --quiet "{DIST}==$INPUT_VERSION"' in install
    assert f"pip install {DIST}" in README
    assert f"pipx install {DIST}" in README
    assert 'install --quiet "$GITHUB_ACTION_PATH"' in install  # a checkout, as the README says
    assert "pip install ." in README
    assert "pip install imagekit-cli" not in README + ACTION  # another project's name


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_action_run_step_uploads_and_sets_outputs(
    fake: FakeState, env: dict[str, str], tmp_path: Path
) -> None:
    make_file(tmp_path / "site" / "a.jpg", 30)
    make_file(tmp_path / "site" / "raw.heic", 30)
    make_file(tmp_path / "my photos" / "b c.png", 40)
    output, temp = tmp_path / "github_output", tmp_path / "runner"
    temp.mkdir()
    run_env = {
        **os.environ,
        **env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "RUNNER_TEMP": str(temp),
        "GITHUB_OUTPUT": str(output),
        "INPUT_PATHS": f"{tmp_path / 'site'}\n'{tmp_path / 'my photos'}'",
        "INPUT_FOLDER": "/act",
        "INPUT_COMMAND": "upload",
        "INPUT_ARGS": "--tags 'one,two' -j 2",
        "INPUT_REPORT": "",
    }
    done = subprocess.run(["bash", "-c", _step_script("run")], env=run_env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert outputs["report"] == str(temp / "imagekit-report.json")
    assert (outputs["uploaded"], outputs["skipped"], outputs["failed"]) == ("2", "1", "0")
    assert fake.stored_paths() == {"/act/a.jpg", "/act/b_c.png"}
    assert all(u.fields.get("tags") == "one,two" for u in fake.requests_of("upload"))

    bad_quotes = {**run_env, "INPUT_ARGS": "--dry-run --tags 'unbalanced"}
    failed = subprocess.run(["bash", "-c", _step_script("run")], env=bad_quotes, cwd=tmp_path,
                            capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert failed.returncode != 0
    assert "args cannot be split into words" in failed.stdout + failed.stderr
    assert len(fake.requests_of("upload")) == 2  # nothing ran without the args
    assert not (temp / "imagekit-report.json").exists()  # no stale counts from the first run
