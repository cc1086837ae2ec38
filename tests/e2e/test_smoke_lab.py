"""Smoke test of the e2e harness: JupyterLab opens a notebook, runs it, and its kernel answers."""

from __future__ import annotations

import time

from e2e_harness import LabServer


def test_notebook_runs_in_real_lab(lab: LabServer, user) -> None:
    started = time.monotonic()
    path = lab.write_notebook("smoke.ipynb", ["x = 40 + 2; print(x)"])

    alice = user("alice").open_notebook(path)
    alice.run_cell(0)
    assert alice.wait_for_output(0, "42").strip() == "42"
    assert alice.execute_in_kernel("print(x * 2)").strip() == "84"

    shot = alice.screenshot("e2e/smoke_lab.png")
    assert shot.stat().st_size > 10_000
    assert alice.page.locator(".jp-Dialog").count() == 0, "no dialog (e.g. kernel selection)"
    print(f"smoke test body took {time.monotonic() - started:.1f}s")


def test_rooms_api_answers_with_token(lab: LabServer) -> None:
    status, body = lab.request("GET", "codecompanion/api/rooms")
    assert status == 200, body
