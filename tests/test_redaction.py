"""Every secret is redacted everywhere, not only the private key (issue #11, item 4)."""

from __future__ import annotations

import json
from pathlib import Path

from imagekit_cli.auth import Redactor
from imagekit_cli.config import Secret, Settings
from tests.conftest import PRIVATE_KEY, PUBLIC_KEY, CliRecorder, make_file
from tests.fake_imagekit import FakeState
from tests.signing_backend import Backend, running

HEADER_SECRET = "hdr-secret-value-1"
SCHEME_SECRET = "tok-secret-value-2"
QUERY_SECRET = "query-secret-value-3"
USERINFO_SECRET = "pw-secret-value-4"


def _all_text(*texts: str, folder: Path) -> str:
    files = [p.read_text(errors="replace") for p in folder.rglob("*") if p.is_file()]
    return "\n".join([*texts, *files])


def test_auth_headers_from_env_and_query_secrets_never_show(
    fake: FakeState, cli: CliRecorder, tmp_path: Path
) -> None:
    make_file(tmp_path / "d" / "a.jpg", 10)
    make_file(tmp_path / "d" / "b.jpg", 10, 1)
    required = {"X-Team-Credential": HEADER_SECRET, "Authorization": f"Token {SCHEME_SECRET}"}
    with running(Backend(require=required)) as backend:
        env = {
            "IMAGEKIT_PUBLIC_KEY": PUBLIC_KEY,
            "IMAGEKIT_BASE_URL": fake.base_url,
            "IMAGEKIT_AUTH_ENDPOINT": f"{backend.url}?api_key={QUERY_SECRET}",
            "IMAGEKIT_AUTH_HEADER": f"X-Team-Credential: {HEADER_SECRET}\n"
            f"Authorization: Token {SCHEME_SECRET}\n",
        }
        result = cli("--debug", "upload", str(tmp_path / "d"), "--auth", "jwt", "-o", "json",
                     "--report", str(tmp_path / "out" / "r.json"), env=env)  # fmt: skip
        shown = cli("config", "show", env=env)
    assert result.exit_code == 0, result.stderr
    assert len(backend.requests) == 2  # both headers from IMAGEKIT_AUTH_HEADER were sent
    assert "debug: > POST" in result.stderr  # the trace is there, and names the headers
    assert "x-team-credential=***" in result.stderr
    assert "authorization=Token ***" in result.stderr
    assert "auth_header = X-Team-Credential: ***  (IMAGEKIT_AUTH_HEADER)" in shown.stdout
    everything = _all_text(result.stdout, result.stderr, shown.stdout, folder=tmp_path / "out")
    for secret in (HEADER_SECRET, SCHEME_SECRET, QUERY_SECRET):
        assert secret not in everything


def test_userinfo_in_the_base_url_is_redacted_in_reports_and_config_show(
    fake: FakeState, cli: CliRecorder, tmp_path: Path
) -> None:
    make_file(tmp_path / "d" / "a.jpg", 10)
    base = fake.base_url.replace("http://", f"http://bob:{USERINFO_SECRET}@")
    env = {"IMAGEKIT_PRIVATE_KEY": PRIVATE_KEY, "IMAGEKIT_BASE_URL": base}
    out = tmp_path / "out"
    args = ("upload", str(tmp_path / "d"), "--dry-run", "-o", "json", "--report")
    runs = [cli(*args, str(out / f"r.{suffix}"), env=env) for suffix in ("json", "xml", "csv")]
    shown = cli("config", "show", env=env)
    assert all(r.exit_code == 0 for r in runs), runs[0].stderr
    target = json.loads(runs[0].stdout)["target"]
    assert target["base_url"] == fake.base_url.replace("http://", "http://***@")
    assert f"base_url = {target['base_url']}  (IMAGEKIT_BASE_URL)" in shown.stdout
    texts = [t for r in runs for t in (r.stdout, r.stderr)]
    assert USERINFO_SECRET not in _all_text(*texts, shown.stdout, folder=out)


def test_server_messages_echoing_a_key_are_redacted_in_every_format(
    fake: FakeState, env: dict[str, str], cli: CliRecorder, tmp_path: Path
) -> None:
    make_file(tmp_path / "d" / "bad.jpg", 10)
    make_file(tmp_path / "d" / "also.jpg", 10, 1)
    echo = f"Key {PRIVATE_KEY} is not allowed here; see https://x.invalid/?token=abcdef123"
    fake.faults.fail_names["bad.jpg"] = (400, echo)
    fake.faults.fail_names["also.jpg"] = (400, f"bad auth Basic {PRIVATE_KEY}")
    out = tmp_path / "out"
    summary = out / "summary.md"
    out.mkdir()
    gh = {**env, "GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary)}
    results = [cli("upload", str(tmp_path / "d"), "-o", fmt, "--report", str(out / f"r.{ext}"),
                   env=gh) for fmt, ext in (("json", "json"), ("csv", "jsonl"), ("jsonl", "xml"),
                                            ("table", "csv"))]  # fmt: skip
    assert all(r.exit_code == 1 for r in results)
    everything = _all_text(*(t for r in results for t in (r.stdout, r.stderr)), folder=out)
    assert PRIVATE_KEY not in everything
    assert "abcdef123" not in everything
    assert "Key *** is not allowed here" in everything
    assert "token=***" in everything


def test_a_malformed_auth_header_is_not_echoed(cli: CliRecorder, tmp_path: Path) -> None:
    make_file(tmp_path / "a.jpg", 10)
    env = {"IMAGEKIT_PUBLIC_KEY": PUBLIC_KEY, "IMAGEKIT_AUTH_ENDPOINT": "https://s.invalid/a"}
    result = cli("upload", str(tmp_path / "a.jpg"), "--auth", "jwt", "--auth-header",
                 "justthesecretvalue", env=env)  # fmt: skip
    assert result.exit_code == 2
    assert "justthesecretvalue" not in result.stderr
    assert "--auth-header" in result.stderr


def test_redactor_knows_every_kind_of_secret() -> None:
    settings = Settings(
        private_key=Secret("private_abcdefghijklmnopqrstuvwxyz12"),
        base_url="https://alice:s3cretpass@proxy.invalid",
        auth_endpoint="https://signer.invalid/auth?k=opaquevalue9",
        auth_headers=(Secret("X-Custom: customsecret"), Secret("X-Pin: 42")),
    )
    redact = Redactor.for_settings(settings)
    text = redact(
        "private_abcdefghijklmnopqrstuvwxyz12 cHJpdmF0ZV9hYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejEyOg== "
        "https://alice:s3cretpass@proxy.invalid ftp://u:p@h.invalid/ s3cretpass "
        "?k=opaquevalue9&x-amz-signature=abc&api_key=zzz customsecret X-Pin: 42 x-pin=42 "
        "Authorization: Digest d1g3st Proxy-Authorization: Basic QWxhZGRpbjpvcGVu "
        "other private_ZZZZZZZZZZZZZZZZZZZZ= key"
    )
    for secret in ("abcdefghijklmnopqrstuvwxyz12", "cHJpdmF0", "s3cretpass", "u:p@",
                   "opaquevalue9", "=abc", "zzz", "customsecret", " 42", "d1g3st",
                   "QWxhZGRpbjpvcGVu", "ZZZZ"):  # fmt: skip
        assert secret not in text, (secret, text)
    assert "https://***@proxy.invalid" in text
    assert "Authorization: Digest ***" in text
    assert "other private_*** key" in text
    assert redact("uploaded photos/private_party.jpg (42 files)") == (
        "uploaded photos/private_party.jpg (42 files)"
    )


def test_a_malformed_env_auth_header_is_not_echoed_even_by_config_show(cli: CliRecorder) -> None:
    env = {"IMAGEKIT_AUTH_HEADER": "X-Ok: fine-value-1\njustthesecretvalue\n"}
    result = cli("config", "show", env=env)
    assert result.exit_code == 2
    assert "justthesecretvalue" not in result.stdout + result.stderr
    assert "IMAGEKIT_AUTH_HEADER" in result.stderr
