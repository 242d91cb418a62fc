"""The lab's error (moves out of the library's error tree in the next commit)."""
from omapifo.errors import LabError

__all__ = ["LabError"]
