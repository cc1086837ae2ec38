"""Edits relayed in rooms are the server's activity (`GET /api/status`'s `last_activity`,
which jupyterhub-singleuser reports to the hub's idle culler); presence alone is not."""

from __future__ import annotations

import itertools
import json
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from yclient import YClient, eventually

from codecompanion_ext.activity import ActivityReport


async def last_activity(jp_fetch: Any) -> datetime:
    response = await jp_fetch("api", "status")  # not itself activity
    return datetime.fromisoformat(json.loads(response.body)["last_activity"].replace("Z", "+00:00"))


async def students(room_factory: Any, yclient: Any) -> tuple[YClient, YClient]:
    """Two guests in a fresh room, connected with its edit key (no Jupyter login)."""
    room = await room_factory()
    key = parse_qs(urlsplit(room["links"]["edit"]).query)["key"][0]
    a = await yclient(room["roomId"], headers={"X-Room-Key": key}).sync()
    b = await yclient(room["roomId"], headers={"X-Room-Key": key}).sync()
    return a, b


async def type_one(a: YClient, b: YClient) -> None:
    """`a` types a character; returns once the room relayed it (`b` has it)."""
    a.append("x")
    await eventually(lambda: b.text == a.text, what="the edit relayed")


async def test_room_edits_advance_last_activity_and_presence_does_not(
    room_factory, yclient, jp_fetch
):
    a, b = await students(room_factory, yclient)
    before = await last_activity(jp_fetch)
    a.set_presence({"user": {"name": "Ana", "color": "#123456"}})
    await eventually(lambda: "Ana" in b.peer_names, what="presence relayed")
    assert await last_activity(jp_fetch) == before

    await type_one(a, b)
    after = await last_activity(jp_fetch)
    assert after > before


@pytest.mark.cc_config(activity_interval=0.5)
async def test_room_activity_is_reported_at_most_once_per_interval(room_factory, yclient, jp_fetch):
    a, b = await students(room_factory, yclient)
    reports: list[datetime] = [await last_activity(jp_fetch)]
    edits = 0
    while len(reports) < 4:  # the creation, then three reports of typing
        await type_one(a, b)
        edits += 1
        seen = await last_activity(jp_fetch)
        if seen != reports[-1]:
            reports.append(seen)
        assert edits < 2000, "typing was not reported as activity"
    gaps = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(reports[1:])]
    assert min(gaps) >= 0.45, gaps  # the wall clock may tick a little apart from monotonic
    assert edits > len(reports)  # most edits were not reported


@pytest.mark.cc_config(activity_interval=0)
async def test_room_traffic_is_not_activity_when_disabled(
    room_factory, yclient, jp_fetch, jp_serverapp
):
    a, b = await students(room_factory, yclient)
    before = await last_activity(jp_fetch)
    for _ in range(20):
        await type_one(a, b)
    assert await last_activity(jp_fetch) == before
    assert "codecompanion_last_activity" not in jp_serverapp.web_app.settings


def test_activity_is_reported_on_the_leading_edge_of_each_interval():
    now = [100.0]
    calls: list[float] = []
    report = ActivityReport(30.0, lambda: calls.append(now[0]), clock=lambda: now[0])
    for t in (100.0, 101.0, 129.9, 130.0, 131.0, 500.0):
        now[0] = t
        report()
    assert calls == [100.0, 130.0, 500.0]
