"""Print the NEC code of every frame lircd's file driver wrote, one a line (0x00F720DF).

    python3 nec_frames.py FILE [OFFSET]    only the frames written from byte OFFSET on

The driver writes what it sends as `pulse N` / `space N` lines (microseconds). A NEC frame: a
header (pulse 9000, space 4500), then 32 bits, most significant first, each a pulse of about 563
and a space of about 1687 for a 1 or about 563 for a 0; then a trailing pulse and the gap. A frame
cut short at the end (lircd still writing) is left out. Exits 1 on a line of another form.
"""

import sys

BITS = 32
# Between the two lengths of space: longer is a 1.
ONE_SPACE_ABOVE = (563 + 1687) // 2


def timings(path, offset):
    with open(path, "rb") as frames:
        frames.seek(max(offset - 1, 0))
        text = frames.read().decode("ascii")
    if offset > 0:
        # From the first whole line at or after OFFSET.
        text = text.partition("\n")[2]
    result = []
    for number, line in enumerate(text.splitlines(), 1):
        kind, _, value = line.partition(" ")
        if kind not in ("pulse", "space") or not value.isdigit():
            sys.exit(f"{path}: line {number} after byte {offset} is not 'pulse N' or 'space N': {line!r}")
        result.append((kind, int(value)))
    return result


def codes(items):
    """The code of every complete frame in items, a list of (kind, microseconds)."""
    found = []
    i = 0
    while i + 1 < len(items):
        (kind1, pulse), (kind2, space) = items[i], items[i + 1]
        if not (kind1 == "pulse" and 8000 <= pulse <= 10000 and kind2 == "space" and 4000 <= space <= 5000):
            i += 1
            continue
        bits = items[i + 2 : i + 2 + 2 * BITS]
        if len(bits) < 2 * BITS:
            break
        code = 0
        for kind, length in bits[1::2]:
            if kind != "space":
                sys.exit(f"frame at item {i}: a {kind} where a bit's space belongs")
            code = code << 1 | (length > ONE_SPACE_ABOVE)
        found.append(code)
        i += 2 + 2 * BITS
    return found


if __name__ == "__main__":
    path = sys.argv[1]
    offset = int(sys.argv[2]) if len(sys.argv) > 2 else 0
    for code in codes(timings(path, offset)):
        print(f"0x{code:08X}")
