"""The prepared SD card image: its build on a Debian machine, and its first boot on the Pi."""
