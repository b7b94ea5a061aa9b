#!/usr/bin/python
"""Keep device-tree overlay lines in a Raspberry Pi config.txt: one line each, under [all].

lineinfile cannot say "exactly one line, in the last [all] section": it edits a matching line
wherever it is (perhaps under [pi4]) and leaves duplicates. This module removes every line of the
overlays it manages, wherever they are, and puts the wanted ones at the end of the last [all]
section (added at the end of the file when there is none). Every other line stays as it was, and a
file that is already right is not written.
"""

from __future__ import annotations

import re

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: boot_config_overlays
short_description: Keep dtoverlay lines in a Raspberry Pi config.txt, one each, under [all]
description:
  - Every line of a managed overlay is removed wherever it is; the wanted lines are put at the end
    of the last [all] section. Other lines are left unchanged.
options:
  path:
    description: >-
      The config.txt to edit (/boot/firmware/config.txt, or /boot/config.txt), or a file that
      becomes part of one (Debian's /etc/default/raspi-firmware-custom).
    type: path
    required: true
  create:
    description: A missing file is taken as empty and created; without it, a missing file fails.
    type: bool
    default: false
  overlays:
    description: The wanted overlays with their parameters, as after "dtoverlay=".
    type: list
    elements: str
    default: []
  absent:
    description: Names of overlays that must not be there.
    type: list
    elements: str
    default: []
"""

EXAMPLES = r"""
- name: Send IR on GPIO 17
  boot_config_overlays:
    path: /boot/firmware/config.txt
    overlays: ["gpio-ir-tx,gpio_pin=17"]
    absent: [lirc-rpi]
"""

RETURN = r"""
lines:
  description: The overlay lines the file holds afterwards.
  type: list
  returned: always
"""

SECTION = re.compile(r"^\s*\[([^\]]*)\]")


def overlay_name(line: str) -> str | None:
    match = re.match(r"^\s*dtoverlay\s*=\s*([^,\s#]+)", line)
    return match.group(1) if match else None


def all_section(lines: list[str]) -> tuple[int, int] | None:
    """The line range of the last [all] section (after its header), or None without one."""
    start = None
    for index, line in enumerate(lines):
        match = SECTION.match(line)
        if match and match.group(1).strip() == "all":
            start = index + 1
    if start is None:
        return None
    end = start
    while end < len(lines) and not SECTION.match(lines[end]):
        end += 1
    return start, end


def is_right(lines: list[str], wanted: list[str], managed: set[str]) -> bool:
    section = all_section(lines)
    found = [(i, line.strip()) for i, line in enumerate(lines) if overlay_name(line) in managed]
    if section is None or len(found) != len(wanted):
        return False
    start, end = section
    return sorted(text for _, text in found) == sorted(wanted) and all(start <= i < end for i, _ in found)


def edit(lines: list[str], wanted: list[str], managed: set[str]) -> list[str]:
    kept = [line for line in lines if overlay_name(line) not in managed]
    section = all_section(kept)
    if section is None:
        if kept and kept[-1].strip():
            kept.append("")
        kept.append("[all]")
        section = (len(kept), len(kept))
    start, end = section
    # After the section's last line of content, before the blank lines that end it.
    at = end
    while at > start and not kept[at - 1].strip():
        at -= 1
    return kept[:at] + wanted + kept[at:]


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "create": {"type": "bool", "default": False},
            "overlays": {"type": "list", "elements": "str", "default": []},
            "absent": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    )
    path = module.params["path"]
    wanted = [f"dtoverlay={overlay}" for overlay in module.params["overlays"]]
    managed = {overlay_name(line) for line in wanted} | set(module.params["absent"])
    try:
        with open(path, encoding="utf-8") as handle:
            before = handle.read()
    except FileNotFoundError as exc:
        if not module.params["create"]:
            module.fail_json(msg=f"cannot read {path}: {exc.strerror}")
        before = ""
    except OSError as exc:
        module.fail_json(msg=f"cannot read {path}: {exc.strerror}")
    lines = before.splitlines()
    if is_right(lines, wanted, managed):
        module.exit_json(changed=False, lines=wanted)
    after = "\n".join(edit(lines, wanted, managed)) + "\n"
    if not module.check_mode:
        module.atomic_move(_write_temp(module, after), path)
    module.exit_json(
        changed=True,
        lines=wanted,
        diff={"before": before, "after": after, "before_header": path, "after_header": path},
    )


def _write_temp(module: AnsibleModule, text: str) -> str:
    temp = module.tmpdir + "/config.txt"
    with open(temp, "w", encoding="utf-8") as handle:
        handle.write(text)
    return temp


if __name__ == "__main__":
    main()
