"""The lamp: the IR colour lamp (through lircd), a wired RGB LED (gpiozero) or a virtual lamp."""
