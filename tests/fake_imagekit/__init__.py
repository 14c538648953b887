"""A fake ImageKit server for tests and benchmarks (see ARCHITECTURE.md, "Tests")."""

from tests.fake_imagekit.server import AppThread, FakeImageKit, FakeServer
from tests.fake_imagekit.state import FakeState, sanitise_name

__all__ = ["AppThread", "FakeImageKit", "FakeServer", "FakeState", "sanitise_name"]
