"""Local checks of the documented shapes of upload's JSON fields, so a wrong shape fails
once, before any request, instead of once per file.

Shapes as ImageKit documents them for the upload API:
https://imagekit.io/docs/api-reference/upload-file/upload-file
"""

from __future__ import annotations

import json
from typing import Any

from imagekit_cli.errors import UsageError

POST_TYPES = ("transformation", "gif-to-video", "thumbnail", "abs")
ABS_PROTOCOLS = ("hls", "dash")


def check_extensions(text: str | None) -> None:
    """``--extensions``: an array of objects, each with a ``name`` string."""
    if text is None:
        return
    for index, item in enumerate(json.loads(text)):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
            raise UsageError(
                f'--extensions item {index} must be an object with a "name", got {_short(item)}.',
                hint='Example: --extensions \'[{"name": "google-auto-tagging", "maxTags": 5}]\'.',
            )


def check_transformation(text: str | None) -> None:
    """``--transformation``: ``{"pre": str, "post": [{"type": ..., "value": str}, ...]}``."""
    if text is None:
        return
    value: dict[str, Any] = json.loads(text)
    hint = 'Example: --transformation \'{"pre": "w-1000", "post": [{"type": "thumbnail"}]}\'.'
    unknown = sorted(set(value) - {"pre", "post"})
    if unknown:
        raise UsageError(f"--transformation has unknown key(s) {', '.join(unknown)}.", hint=hint)
    if "pre" in value and not isinstance(value["pre"], str):
        raise UsageError(f"--transformation pre must be a string, got {_short(value['pre'])}.",
                         hint=hint)  # fmt: skip
    post = value.get("post", [])
    if not isinstance(post, list):
        raise UsageError("--transformation post must be an array of steps.", hint=hint)
    for index, step in enumerate(post):
        problem = _post_problem(step)
        if problem:
            raise UsageError(f"--transformation post[{index}] {problem}.", hint=hint)


def _post_problem(step: Any) -> str | None:
    if not isinstance(step, dict) or step.get("type") not in POST_TYPES:
        return f"must be an object whose type is one of {', '.join(POST_TYPES)}"
    if "value" in step and not isinstance(step["value"], str):
        return "value must be a string"
    if step["type"] in ("transformation", "abs") and not step.get("value"):
        return f"of type {step['type']} needs a value"
    if step["type"] == "abs" and step.get("protocol") not in ABS_PROTOCOLS:
        return "of type abs needs a protocol, hls or dash"
    return None


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:39] + "…"
