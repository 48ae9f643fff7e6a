"""The closing `N passed, N failed` line counts junit cases and stage results honestly."""

from flotilla.report import junit_counts, main, stage_counts, summarize

JUNIT = """<?xml version="1.0"?><testsuites><testsuite name="pytest">
<testcase name="a"/><testcase name="b"><failure message="x"/></testcase>
<testcase name="c"><error message="y"/></testcase><testcase name="d"><skipped/></testcase>
<testcase name="e"><system-out>ok</system-out></testcase>
</testsuite></testsuites>"""


def test_junit_counts_failures_errors_and_skips():
    counts = junit_counts(JUNIT)
    assert (counts.passed, counts.failed, counts.skipped) == (2, 2, 1)


def test_stage_is_failed_unless_it_says_passed():
    assert stage_counts("passed\n").passed == 1
    assert stage_counts("failed\n").failed == 1
    assert stage_counts("").failed == 1


def test_summary_adds_everything_and_fails_on_any_failure(tmp_path, capsys):
    (tmp_path / "unit.xml").write_text(JUNIT)
    (tmp_path / "yamllint.stage").write_text("passed\n")
    (tmp_path / "molecule-default.stage").write_text("failed\n")
    (tmp_path / "broken.xml").write_text("<testsuites")
    _, total = summarize(tmp_path)
    assert (total.passed, total.failed) == (3, 4)
    assert main([str(tmp_path)]) == 1
    assert capsys.readouterr().out.splitlines()[-1] == "3 passed, 4 failed, 1 skipped"


def test_summary_of_a_clean_run_passes(tmp_path, capsys):
    (tmp_path / "ansible-lint.stage").write_text("passed\n")
    assert main([str(tmp_path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 passed, 0 failed"


def test_no_reports_is_a_failure(tmp_path):
    assert main([str(tmp_path)]) == 1


def test_failures_are_named_with_their_telling_lines(tmp_path, capsys):
    message = "AssertionError: restore.yml failed (rc 2):&#10;PLAY [x]&#10;TASK [y]&#10;" + (
        "fatal: [manager1]: FAILED! =&gt; {&quot;msg&quot;: &quot;no leader&quot;}&#10;ok: [manager2]")
    (tmp_path / "testinfra-backup_restore.xml").write_text(
        f'<testsuites><testsuite><testcase name="test_restore"><failure message="{message}">tb</failure>'
        '</testcase><testcase name="fine"/></testsuite></testsuites>')
    assert main([str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[:3] == [
        "failed tests:",
        "  testinfra-backup_restore: test_restore: AssertionError: restore.yml failed (rc 2):",
        '    fatal: [manager1]: FAILED! => {"msg": "no leader"}',
    ]
    assert out[-1] == "1 passed, 1 failed"
