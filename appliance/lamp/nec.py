"""Decodes the IR frames lircd's ``file`` driver records back to their 32-bit NEC codes.

lircd with ``--driver=file`` writes every frame it sends as ``pulse N`` / ``space N`` lines
(microseconds) instead of blinking an LED. Decoding them proves that the frame really carries the
remote's code; the tests and ``bench/lamp_latency.py`` read the lamp this way.
"""

from __future__ import annotations

HEADER_PULSE = 9000
HEADER_SPACE = 4500
ONE_SPACE_ABOVE = 1100  # a 0 is a ~563 µs space, a 1 a ~1687 µs one
BITS = 32


def decode_nec(recording: str) -> list[int]:
    """The codes of every complete frame in ``recording``: a 9000/4500 header, then 32 bits MSB
    first, each a ~563 µs pulse and a ~563 (0) or ~1687 (1) µs space."""
    timings = []
    for line in recording.splitlines():
        kind, _, value = line.partition(" ")
        if kind in ("pulse", "space"):
            timings.append((kind, int(value)))
    codes = []
    i = 0
    while i + 1 < len(timings):
        if (
            timings[i][0] == "pulse"
            and abs(timings[i][1] - HEADER_PULSE) < HEADER_PULSE / 10
            and abs(timings[i + 1][1] - HEADER_SPACE) < HEADER_SPACE / 10
        ):
            bits = [space for kind, space in timings[i + 3 : i + 3 + 2 * BITS : 2] if kind == "space"]
            if len(bits) == BITS:
                codes.append(int("".join("1" if s > ONE_SPACE_ABOVE else "0" for s in bits), 2))
                i += 2 + 2 * BITS
                continue
        i += 1
    return codes
