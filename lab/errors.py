"""The lab's own error. It is no part of the library's error tree (omapifo/_errors.py): the
library never raises it, and nothing that catches OmapifoError should catch a lab that
could not be built."""


class LabError(Exception):
    """The test lab could not be built, started or taken down; the message says why."""
