"""The ranges of the numbers the CI records, inclusive: checked where they come in
(``protocol``), and kept to by the observer, since a commit out of range would have its whole
batch refused at every try. Nothing imported, so the observer needs none of the server's
dependencies to use it."""

# 1970-01-01 to 9999-12-31 23:59:59 UTC: what an ISO 8601 time with a four-digit year can show.
# Git records no commit before 1970; one after 9999 is a wrong clock or a prank.
COMMIT_TIMES = (0, 253_402_300_799)
# An exit status (0 to 255, or minus the signal that ended the command) with room to spare.
EXIT_CODES = (-(2**31), 2**31 - 1)
TEST_COUNTS = (0, 2**31)
COMMAND_SECONDS = (0, 10 * 366 * 86_400)  # ten years: far beyond any timeout, and finite
IDS = (1, 2**63 - 1)  # SQLite's INTEGER


def within(value: float, bounds: tuple[float, float]) -> bool:
    """Whether ``value`` lies in ``bounds``; never for NaN or an infinity."""
    low, high = bounds
    return low <= value <= high
