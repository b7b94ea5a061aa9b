"""What the seed let through: names that are paths, parameters that override the showroom's,
ports another program holds, deployments at once, demos that outlive their destruction or their
supervisord, demos that rewrite what the showroom runs, and a listing that asks supervisord once
per demo."""

from __future__ import annotations

import pwd
import shutil
import socket
import threading
from pathlib import Path

import pytest

from appliance.showroom.demos import Showroom
from appliance.showroom.errors import DeploymentError
from tests.conftest import wait_until
from tests.harness import counting_calls, processes_inside
from tests.showroom.conftest import RECIPES, assert_no_demo_process

pytestmark = pytest.mark.slow


def recipes_with(tmp_path: Path, **scripts: str) -> Path:
    """The seed's test recipes and ``demo_<type>.sh`` for each ``type=script``."""
    directory = tmp_path / "recipes"
    shutil.copytree(RECIPES, directory)
    for type_, script in scripts.items():
        (directory / f"demo_{type_}.sh").write_text(script, encoding="utf-8")
    return directory


def nothing_deployed(showroom: Showroom) -> bool:
    layout = showroom.layout
    return (
        list(layout.demos.iterdir()) == []
        and [p.name for p in layout.programs.iterdir()] == ["apache2.conf"]
        and list(layout.deploys.iterdir()) == []
    )


@pytest.mark.parametrize("name", ["../x", "a/b", "", "x" * 200, "Upper", "-dash", "apache2"])
def test_a_name_that_is_not_a_plain_word_is_refused(showroom, name):
    with pytest.raises(ValueError, match="demo name"):
        showroom.deploy("test1", name)
    assert nothing_deployed(showroom)
    assert not (showroom.layout.directory / "x").exists()


@pytest.mark.parametrize("param", ["PORT", "port", "HOST", "PATH", "name", "undeclared"])
def test_a_parameter_the_recipe_does_not_take_or_the_showroom_gives_is_refused(showroom, param):
    with pytest.raises(DeploymentError, match=repr(param)):
        showroom.deploy("test1", "demo", {param: "80"})
    assert nothing_deployed(showroom)


def test_a_port_another_program_listens_on_is_skipped(showroom, showroom_daemon):
    with socket.socket() as other:
        other.bind(("127.0.0.1", showroom_daemon.port_base))
        other.listen()
        showroom.deploy("test1", "first")
    assert showroom.demo("first").info()["port"] == showroom_daemon.port_base + 1


def test_deployments_at_once_get_different_ports(showroom):
    errors = []

    def deploy(name: str) -> None:
        try:
            showroom.deploy("test1", name)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=deploy, args=(f"at-once-{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    ports = [demo["port"] for demo in showroom.installed()]
    assert len(ports) == 6
    assert len(set(ports)) == 6


def test_a_running_demo_destroyed_leaves_no_process(showroom):
    showroom.deploy("test1", "running")
    showroom.demo("running").start()
    assert len(processes_inside(showroom.layout.demo_dir("running"))) == 2  # its shell and its sleep
    showroom.demo("running").destroy()
    assert showroom.demo("running").status() == "DESTROYED"
    assert_no_demo_process(showroom)
    assert not showroom.layout.program("running").exists()


def test_a_restarted_supervisord_brings_the_demos_back_as_they_were(showroom, showroom_daemon):
    for type_, name in [("test1", "proc-on"), ("test1", "proc-off"), ("testapache", "web-on")]:
        showroom.deploy(type_, name)
    showroom.deploy("testapache", "web-off")
    for name in ("proc-on", "proc-off", "web-on", "web-off"):
        showroom.demo(name).start()
    for name in ("proc-off", "web-off"):
        showroom.demo(name).stop()
    expected = {"proc-on": "RUNNING", "proc-off": "STOPPED", "web-on": "RUNNING", "web-off": "STOPPED"}

    showroom_daemon.stop()
    assert_no_demo_process(showroom)
    showroom_daemon.start()

    def statuses() -> dict[str, str]:
        return {demo["name"]: demo["status"] for demo in showroom.installed()}

    wait_until(lambda: statuses() == expected, what=f"{expected}, not {statuses()}")
    assert showroom_daemon.state("apache2") == "RUNNING"


def test_a_recipe_that_takes_too_long_is_killed_with_its_children(start_showroom, tmp_path):
    hanging = "# PARAMS:\nsleep 99999999 &\nsleep 99999999\n"
    daemon = start_showroom(recipes_with(tmp_path, hanging=hanging), recipe_timeout=1)
    showroom = Showroom(daemon.config)
    with pytest.raises(DeploymentError, match="installation ended with an error") as failed:
        showroom.deploy("hanging", "hanging")
    assert "stopped after 1 s" in failed.value.log
    assert showroom.installed() == []
    assert_no_demo_process(showroom)


def test_parameters_reach_the_demo_intact_and_the_appliances_environment_does_not(
    start_showroom, tmp_path, monkeypatch
):
    monkeypatch.setenv("APPLIANCE_TEST_SECRET", "s3cret")
    recipe = "# PARAMS: comment\nprintf '%s\\n' \"recipe sees: $(env | grep -c APPLIANCE_TEST_SECRET)\"\n"
    recipe += "printf '#!/bin/sh\\nenv > environment\\nexec sleep 99999999\\n' > start.sh\n"
    daemon = start_showroom(recipes_with(tmp_path, printenv=recipe))
    showroom = Showroom(daemon.config)
    comment = 'Ada\'s "demo" ; # not a comment\nsecond line, 100% $HOME `x`'
    showroom.deploy("printenv", "printenv", {"comment": comment})
    showroom.demo("printenv").start()
    environment = showroom.layout.demo_dir("printenv") / "environment"
    wait_until(environment.exists, what="the demo's environment")
    text = environment.read_text()
    assert f"comment={comment}\n" in text
    assert f"PORT={showroom.demo('printenv').info()['port']}\n" in text
    assert "name=printenv\n" in text
    assert "APPLIANCE_TEST_SECRET" not in text
    assert "recipe sees: 0" in showroom.demo("printenv").logs()["deploy"]


INTRUDER = """\
# PARAMS: targets
cat > start.sh <<'EOF'
#!/bin/sh
for target in $targets; do
    if echo "# intruder" >> "$target"; then echo "wrote $target"; else echo "refused $target"; fi
done
echo "done as $(id -un)"
exec sleep 99999999
EOF
"""


def test_a_demo_cannot_write_what_the_showroom_runs(start_showroom, tmp_path):
    """As root, with ``[showroom] user``: supervisord becomes that user before it starts a demo
    or Apache, and the files they would rewrite are the appliance's."""
    daemon = start_showroom(recipes_with(tmp_path, intruder=INTRUDER), user="nobody")
    showroom = Showroom(daemon.config)
    showroom.deploy("testapache", "web")
    showroom.demo("web").start()
    layout = showroom.layout
    targets = [
        layout.supervisord_conf,
        layout.programs / "apache2.conf",
        layout.program("web"),  # absent: a vhost only has no program
        layout.httpd_conf,
        layout.site("web"),
        layout.demo_file("web"),
        layout.program("intruder"),
        layout.environment("intruder"),
        layout.demo_file("intruder"),
    ]
    showroom.deploy("intruder", "intruder", {"targets": " ".join(map(str, targets))})
    showroom.demo("intruder").start()

    def outcome() -> str | None:
        output = showroom.demo("intruder").logs()["output"]
        return output if "done as" in output else None

    output = wait_until(outcome, what="the intruder's report")
    assert "done as nobody" in output
    assert "wrote" not in output
    assert output.count("refused") == len(targets)
    assert [target for target in targets if target.exists() and b"# intruder" in target.read_bytes()] == []
    assert not layout.program("web").exists()
    nobody = pwd.getpwnam("nobody")
    for program in ("apache2", "intruder"):
        pid = daemon.client.call("getProcessInfo", program)["pid"]
        assert ids(pid) == {"Uid": {nobody.pw_uid}, "Gid": {nobody.pw_gid}}


def ids(pid: int) -> dict[str, set[int]]:
    """A process's real, effective, saved and file-system user and group ids."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {
        key: {int(value) for value in rest.split()}
        for key, _, rest in (line.partition(":") for line in lines)
        if key in ("Uid", "Gid")
    }


def test_a_listing_of_fifty_demos_asks_supervisord_once(showroom):
    for n in range(50):
        showroom.deploy("test1", f"demo-{n:02d}")
    calls = counting_calls(showroom.supervisor)
    listed = showroom.installed()
    assert len(listed) == 50
    assert {demo["status"] for demo in listed} == {"STOPPED"}
    assert calls == ["getAllProcessInfo"]
