"""The seed's doctest (Python 2, Pyramid), step by step against the new API, on a real showroom:
its own supervisord, real recipes, a real Apache. Each test starts from an empty showroom."""

from __future__ import annotations

import xmlrpc.client

import pytest

from appliance.showroom.demos import InstalledDemo, Showroom
from appliance.showroom.errors import DeploymentError, DestructionError
from tests.conftest import wait_until
from tests.showroom.conftest import DID_NOT_STAY_UP, assert_no_demo_process, fetch

pytestmark = pytest.mark.slow

SEED_PARAMS = {"params": ["name", "comment"]}


def test_deploy_list_and_destroy(showroom, showroom_daemon):
    base = showroom_daemon.port_base
    assert showroom.available() == {
        name: SEED_PARAMS
        for name in ("error", "error2", "error3", "error4", "test1", "test2", "testapache", "testapachebad")
    }
    assert showroom.installed() == []

    showroom.deploy("test1", "test1")
    # The seed had demo.conf and supervisor.cfg in the demo's directory; the program now lives in
    # programs/ (out of the demo's reach), demo.json is ours.
    assert sorted(p.name for p in showroom.layout.demo_dir("test1").iterdir()) == [
        "demo.json",
        "foobar",
        "start.sh",
    ]
    assert showroom.layout.program("test1").is_file()

    with pytest.raises(DeploymentError, match=r"^this demo already exists$"):
        showroom.deploy("test1", "test1")
    with pytest.raises(DeploymentError, match=r"^this demo does not exist$"):
        showroom.deploy("nosuchtype", "other")

    [listed] = showroom.installed()
    assert listed == {
        "name": "test1",
        "type": "test1",
        "port": base,
        "params": {"comment": ""},
        "status": "STOPPED",
        "wanted": "stopped",
        "url": None,
        "apache_error": None,
        "created_at": listed["created_at"],
    }

    showroom.deploy("test1", "test1bis", {"comment": "the second"})
    assert showroom.demo("test1bis").info()["port"] == base + 1
    assert showroom.demo("test1bis").info()["params"] == {"comment": "the second"}

    with pytest.raises(DeploymentError, match=r"^installation ended with an error$") as failed:
        showroom.deploy("error", "error")
    assert "the installation of error fails" in failed.value.log
    assert not showroom.layout.demo_dir("error").exists()
    assert not showroom.layout.program("error").exists()
    assert "exited with 1" in showroom.layout.deploy_log("error").read_text()

    showroom.demo("test1").destroy()
    assert [demo["name"] for demo in showroom.installed()] == ["test1bis"]
    showroom.deploy("test1", "test1")
    assert showroom.demo("test1").info()["port"] == base

    with pytest.raises(DestructionError, match=r"^this demo does not exist$"):
        showroom.demo("nonexisting").destroy()
    assert InstalledDemo(showroom, "nonexisting").status() == "DESTROYED"
    with pytest.raises(ValueError, match=r"^empty demo name$"):
        InstalledDemo(showroom, "")


def test_a_process_starts_and_stops(showroom, showroom_daemon):
    showroom.deploy("test1", "test1")
    demo = showroom.demo("test1")
    demo.start()
    assert demo.status() == "RUNNING"
    assert showroom_daemon.state("test1") == "RUNNING"
    demo.stop()
    assert demo.status() == "STOPPED"
    assert showroom_daemon.state("test1") == "STOPPED"
    assert_no_demo_process(showroom)


def test_a_process_that_exits_at_once_fails_to_start(showroom, showroom_daemon):
    showroom.deploy("error2", "error2")
    demo = showroom.demo("error2")
    with pytest.raises(xmlrpc.client.Fault) as fault:
        demo.start()
    assert fault.value.faultCode in DID_NOT_STAY_UP
    assert fault.value.faultString.endswith(": error2")
    assert demo.status() in ("BACKOFF", "STARTING", "FATAL")
    wait_until(lambda: demo.status() == "FATAL", what="error2 to be FATAL")
    assert "error2 exits at once" in demo.logs()["output"]


def test_a_vhost_alone_is_served_by_apache(showroom, showroom_daemon):
    showroom.deploy("testapache", "testapache")
    demo = showroom.demo("testapache")
    assert demo.status() == "STOPPED"
    assert showroom_daemon.state("apache2") == "STOPPED"

    demo.start()
    assert demo.status() == "RUNNING"
    assert showroom_daemon.state("apache2") == "RUNNING"
    info = demo.info()
    assert fetch(info["port"]) == b"testapache testapache\n"
    assert info["url"] == f"http://{showroom.public_host}:{info['port']}/"

    demo.stop()
    assert demo.status() == "STOPPED"
    assert showroom_daemon.state("apache2") == "STOPPED"  # no demo needs it
    demo.start()
    assert demo.status() == "RUNNING"
    demo.destroy()
    assert showroom_daemon.state("apache2") == "STOPPED"


def test_a_vhost_apache_refuses_stays_stopped(showroom, showroom_daemon):
    showroom.deploy("testapachebad", "testapachebad")
    demo = showroom.demo("testapachebad")
    demo.start()  # no exception
    assert demo.status() == "STOPPED"
    assert showroom_daemon.state("apache2") == "STOPPED"
    assert "ThisIsNotAnApacheDirective" in demo.info()["apache_error"]
    assert not showroom.layout.site("testapachebad").exists()


def test_a_bad_vhost_leaves_the_good_ones_served(showroom, showroom_daemon):
    for name in ("good1", "good2"):
        showroom.deploy("testapache", name)
        showroom.demo(name).start()
    showroom.deploy("testapachebad", "bad")
    showroom.demo("bad").start()
    assert showroom.demo("bad").status() == "STOPPED"
    assert [showroom.demo(name).status() for name in ("good1", "good2")] == ["RUNNING", "RUNNING"]
    assert showroom_daemon.state("apache2") == "RUNNING"
    assert fetch(showroom.demo("good2").info()["port"]) == b"testapache good2\n"

    showroom.demo("good1").destroy()
    assert showroom.demo("good2").status() == "RUNNING"
    assert showroom_daemon.state("apache2") == "RUNNING"
    showroom.demo("good2").destroy()
    assert showroom_daemon.state("apache2") == "STOPPED"


def test_a_vhost_and_a_process_run_together(showroom, showroom_daemon):
    showroom.deploy("test2", "test2")
    demo = showroom.demo("test2")
    demo.start()
    assert demo.status() == "RUNNING"
    assert showroom_daemon.state("apache2") == "RUNNING"
    assert fetch(demo.info()["port"]) == b"test2 test2\n"
    demo.stop()
    assert demo.status() == "STOPPED"
    assert showroom_daemon.state("apache2") == "STOPPED"

    showroom.deploy("test2", "test2bis")
    demo.start()
    showroom.demo("test2bis").start()
    demo.stop()
    assert showroom_daemon.state("apache2") == "RUNNING"  # test2bis needs it
    showroom.demo("test2bis").stop()
    assert showroom_daemon.state("apache2") == "STOPPED"


def test_a_bad_vhost_keeps_its_good_process_stopped(showroom, showroom_daemon):
    showroom.deploy("error3", "error3")
    demo = showroom.demo("error3")
    demo.start()
    assert demo.status() == "STOPPED"
    assert showroom_daemon.state("apache2") == "STOPPED"
    assert showroom_daemon.state("error3") == "STOPPED"


def test_a_failing_process_keeps_its_good_vhost_unserved(showroom, showroom_daemon):
    showroom.deploy("error4", "error4")
    demo = showroom.demo("error4")
    with pytest.raises(xmlrpc.client.Fault) as fault:
        demo.start()
    assert fault.value.faultCode in DID_NOT_STAY_UP
    assert showroom_daemon.state("apache2") == "STOPPED"
    wait_until(lambda: showroom_daemon.state("error4") == "FATAL", what="error4 to be FATAL")
    assert demo.status() == "FATAL"


def test_no_process_outlives_its_demo(showroom):
    for type_ in ("test1", "test2", "error3"):
        showroom.deploy(type_, type_)
        showroom.demo(type_).start()
    assert [demo["status"] for demo in showroom.installed()] == ["STOPPED", "RUNNING", "RUNNING"]
    for demo in showroom.installed():
        showroom.demo(demo["name"]).destroy()
    assert showroom.installed() == []
    assert_no_demo_process(showroom)  # no `sleep 99999999` left: stopasgroup


def test_every_change_is_published(showroom_daemon):
    published = []
    showroom = Showroom(showroom_daemon.config, publish=lambda topic, data: published.append((topic, data)))
    showroom.deploy("test1", "test1")
    showroom.demo("test1").start()
    showroom.demo("test1").stop()
    showroom.demo("test1").destroy()
    assert [(topic, [(d["name"], d["status"]) for d in data["demos"]]) for topic, data in published] == [
        ("showroom", [("test1", "STOPPED")]),
        ("showroom", [("test1", "RUNNING")]),
        ("showroom", [("test1", "STOPPED")]),
        ("showroom", []),
    ]
