"""The sample app's timer on a one-second NCRONTAB schedule read from a setting."""

from __future__ import annotations

import json
from pathlib import Path

from host_support import write_local_settings


EVERY_SECOND = "* * * * * *"


def read_runs(path: Path) -> list[dict]:
    """Completed runs, each {"start", "end", "past_due", "status"}; a run still going
    is left out."""
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line]
    runs = []
    for start, end in zip(records[::2], records[1::2], strict=False):
        assert (start["phase"], end["phase"]) == ("start", "end"), records
        runs.append(
            {
                "start": start["at"],
                "end": end["at"],
                "past_due": start["past_due"],
                "status": end["status"],
            }
        )
    return runs


def test_the_timer_fires_on_its_schedule_from_a_setting(
    start_host, sample_app, tmp_path, eventually
):
    log = tmp_path / "t"
    settings = {"SAMPLE_TIMER_SCHEDULE": EVERY_SECOND, "SAMPLE_TIMER_LOG": str(log)}
    write_local_settings(sample_app, settings)
    host = start_host(sample_app)
    runs = eventually(
        lambda: (r := read_runs(log)) and len(r) >= 3 and r, what="three timer runs"
    )
    assert [run["past_due"] for run in runs[:1]] == [False]
    # One run per occurrence: each starts in a later second than the one before.
    starts = [int(run["start"]) for run in runs]
    assert starts == sorted(set(starts))
    assert runs[1]["status"]["Last"] is not None
    assert "function=tick timer past_due=false status=ok" in host.log_text()


def test_a_run_that_overruns_is_never_overlapped_and_the_next_is_past_due(
    start_host, sample_app, tmp_path, eventually
):
    write_local_settings(sample_app, {"SAMPLE_TIMER_SCHEDULE": EVERY_SECOND})
    log = tmp_path / "t"
    start_host(
        sample_app,
        env={"SAMPLE_TIMER_LOG": str(log), "SAMPLE_TIMER_FIRST_RUN_SECONDS": "2.5"},
    )
    runs = eventually(
        lambda: (r := read_runs(log)) and len(r) >= 3 and r, what="three timer runs"
    )
    for earlier, later in zip(runs, runs[1:], strict=False):
        assert later["start"] >= earlier["end"], "a timer run overlapped the previous"
    assert runs[0]["past_due"] is False
    assert runs[1]["past_due"] is True  # its occurrence passed while run 1 went on


def test_a_run_that_raises_is_logged_and_the_schedule_goes_on(
    start_host, sample_app, tmp_path, eventually
):
    write_local_settings(sample_app, {"SAMPLE_TIMER_SCHEDULE": EVERY_SECOND})
    log = tmp_path / "t"
    host = start_host(
        sample_app, env={"SAMPLE_TIMER_LOG": str(log), "SAMPLE_TIMER_FAIL_FIRST": "1"}
    )
    eventually(lambda: len(read_runs(log)) >= 2, what="a run after the failed one")
    text = host.log_text()
    assert "Timer tick raised" in text
    assert "RuntimeError: the first check failed" in text
    assert "function=tick timer past_due=false status=failed" in text


def test_stopping_the_host_lets_the_running_call_finish(
    start_host, sample_app, tmp_path, eventually
):
    write_local_settings(sample_app, {"SAMPLE_TIMER_SCHEDULE": EVERY_SECOND})
    log = tmp_path / "t"
    host = start_host(
        sample_app,
        env={"SAMPLE_TIMER_LOG": str(log), "SAMPLE_TIMER_FIRST_RUN_SECONDS": "2"},
    )
    eventually(lambda: log.exists() and log.read_text(), what="the first run to start")
    assert host.stop() == 0
    assert len(read_runs(log)) == 1  # finished, not cut off; no run started after
    assert log.read_text().count('"phase": "start"') == 1
    assert host.log_text().rstrip().endswith("Host stopped.")
