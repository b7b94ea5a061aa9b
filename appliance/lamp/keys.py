"""The keys of the LED_24_KEY remote, their NEC codes, and the colour each one shows.

The codes are copied from the remote (the same as ``lircd.conf`` at the repository root): the
16-bit prefix 0x00F7, then a command byte and its complement, sent MSB first. The RGB values
let a wired RGB LED show the same colours as the IR lamp; they are approximations by eye.
"""

from __future__ import annotations

REMOTE = "LED_24_KEY"

# Every key of the remote with its full 32-bit code, in the remote's layout: row by row.
CODES: dict[str, int] = {
    "BRIGHT_UP": 0x00F700FF,
    "BRIGHT_DOWN": 0x00F7807F,
    "OFF": 0x00F740BF,
    "ON": 0x00F7C03F,
    "RED": 0x00F720DF,
    "GREEN": 0x00F7A05F,
    "BLUE": 0x00F7609F,
    "WHITE": 0x00F7E01F,
    "ORANGE": 0x00F710EF,
    "PEA_GREEN": 0x00F7906F,
    "DARK_BLUE": 0x00F750AF,
    "7_JUMP": 0x00F7D02F,
    "DARK_YELLOW": 0x00F730CF,
    "CYAN": 0x00F7B04F,
    "BROWN": 0x00F7708F,
    "ALL_FADE": 0x00F7F00F,
    "YELLOW": 0x00F708F7,
    "LIGHT_BLUE": 0x00F78877,
    "PINK": 0x00F748B7,
    "7_FADE": 0x00F7C837,
    "STRAW_YELLOW": 0x00F728D7,
    "SKY_BLUE": 0x00F7A857,
    "PURPLE": 0x00F76897,
    "3_JUMP": 0x00F7E817,
}

RGB = tuple[float, float, float]

# The keys that show one steady colour, in the remote's layout, with that colour as RGB (0..1).
COLOURS: dict[str, RGB] = {
    "RED": (1.0, 0.0, 0.0),
    "GREEN": (0.0, 1.0, 0.0),
    "BLUE": (0.0, 0.0, 1.0),
    "WHITE": (1.0, 1.0, 1.0),
    "ORANGE": (1.0, 0.4, 0.0),
    "PEA_GREEN": (0.5, 1.0, 0.2),
    "DARK_BLUE": (0.0, 0.0, 0.5),
    "DARK_YELLOW": (0.8, 0.6, 0.0),
    "CYAN": (0.0, 1.0, 1.0),
    "BROWN": (0.6, 0.3, 0.1),
    "YELLOW": (1.0, 1.0, 0.0),
    "LIGHT_BLUE": (0.4, 0.6, 1.0),
    "PINK": (1.0, 0.4, 0.7),
    "STRAW_YELLOW": (1.0, 0.9, 0.5),
    "SKY_BLUE": (0.3, 0.8, 1.0),
    "PURPLE": (0.5, 0.0, 0.5),
}

COLOUR_KEYS: tuple[str, ...] = tuple(COLOURS)

# What a wired RGB LED shows for each key that has a colour: the colours, and OFF as dark.
# ON, the brightness keys and the effects (jump, fade) have no single colour.
KEY_RGB: dict[str, RGB] = {**COLOURS, "OFF": (0.0, 0.0, 0.0)}
