"""The LED_24_KEY remote as its documentation gives it, for the tests to check the code against."""

# The LED_24_KEY codes as the remote sends them (NEC, MSB first), written out here rather than
# read from appliance.lamp.keys, so that a wrong code there or in lircd.conf fails a test.
REMOTE_CODES = {
    "BRIGHT_DOWN": 0x00F7807F, "ORANGE": 0x00F710EF, "YELLOW": 0x00F708F7,
    "BRIGHT_UP": 0x00F700FF, "PEA_GREEN": 0x00F7906F, "LIGHT_BLUE": 0x00F78877,
    "OFF": 0x00F740BF, "DARK_BLUE": 0x00F750AF, "PINK": 0x00F748B7,
    "ON": 0x00F7C03F, "7_JUMP": 0x00F7D02F, "7_FADE": 0x00F7C837,
    "RED": 0x00F720DF, "DARK_YELLOW": 0x00F730CF, "STRAW_YELLOW": 0x00F728D7,
    "GREEN": 0x00F7A05F, "CYAN": 0x00F7B04F, "SKY_BLUE": 0x00F7A857,
    "BLUE": 0x00F7609F, "BROWN": 0x00F7708F, "PURPLE": 0x00F76897,
    "WHITE": 0x00F7E01F, "ALL_FADE": 0x00F7F00F, "3_JUMP": 0x00F7E817,
}  # fmt: skip

COLOURS_IN_REMOTE_ORDER = [
    "RED", "GREEN", "BLUE", "WHITE", "ORANGE", "PEA_GREEN", "DARK_BLUE", "DARK_YELLOW",
    "CYAN", "BROWN", "YELLOW", "LIGHT_BLUE", "PINK", "STRAW_YELLOW", "SKY_BLUE", "PURPLE",
]  # fmt: skip
