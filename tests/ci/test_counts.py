"""Test counts from JUnit XML or from unittest's summary."""

from appliance.ci.counts import junit_counts, junit_files, unittest_counts


def test_junit_xml_counts_are_summed_over_the_leaf_suites(tmp_path):
    (tmp_path / "junit.xml").write_text(
        '<testsuites tests="99"><testsuite name="a" tests="3" failures="1" errors="0" skipped="1"/>'
        '<testsuite name="b" tests="2" failures="0" errors="1"/></testsuites>'
    )
    (tmp_path / "test-results").mkdir()
    (tmp_path / "test-results" / "more.xml").write_text('<testsuite tests="4" failures="2" skip="1"/>')
    (tmp_path / "test-results" / "broken.xml").write_text("<testsuite")
    assert junit_counts(tmp_path) == {"tests": 9, "failures": 3, "errors": 1, "skipped": 2}


def test_no_junit_xml_means_no_counts(tmp_path):
    assert junit_counts(tmp_path) is None


def test_unittest_summaries():
    failed = b"Ran 3 tests in 0.002s\n\nFAILED (failures=1, errors=1, skipped=1)\n[runner r1] exit code 1\n"
    assert unittest_counts(failed) == {"tests": 3, "failures": 1, "errors": 1, "skipped": 1}
    assert unittest_counts(b"Ran 1 test in 0.000s\n\nOK\n") == {
        "tests": 1,
        "failures": 0,
        "errors": 0,
        "skipped": 0,
    }
    assert unittest_counts(b"Ran 2 tests in 0.1s\n\nOK (skipped=2)\n")["skipped"] == 2
    assert unittest_counts(b"make: *** [test] Error 2\n") is None


def test_only_reports_the_command_wrote_count(tmp_path):
    committed = tmp_path / "junit.xml"
    committed.write_text('<testsuite tests="7" failures="7"/>')
    before = junit_files(tmp_path)
    assert junit_counts(tmp_path, before) is None
    (tmp_path / "test-reports").mkdir()
    (tmp_path / "test-reports" / "new.xml").write_text('<testsuite tests="2" failures="0"/>')
    assert junit_counts(tmp_path, before) == {"tests": 2, "failures": 0, "errors": 0, "skipped": 0}


def test_a_report_linked_to_a_file_outside_the_checkout_is_not_read(tmp_path):
    checkout, outside = tmp_path / "checkout", tmp_path / "outside"
    (checkout / "test-results").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.xml").write_text('<testsuite tests="5" failures="0"/>')
    (checkout / "junit.xml").symlink_to(outside / "secret.xml")
    (checkout / "test-reports").symlink_to(outside)
    (checkout / "test-results" / "own.xml").write_text('<testsuite tests="1" failures="0"/>')
    assert junit_counts(checkout) == {"tests": 1, "failures": 0, "errors": 0, "skipped": 0}
