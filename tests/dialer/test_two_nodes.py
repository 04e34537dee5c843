"""Two nodes on one database, each with its dialer, one campaign: every lead is dialled
exactly once (counted on the wire by sipp), both nodes take part, and `max_concurrent_calls`
holds across them (it is counted in the table, not per node)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from yotel.counters import Counters
from yotel.node import dialer_component
from yotel.settings import Settings
from yotel.testing.server import running_node
from yotel.testing.sipp import sipp_running

from .scene import dialing_node, max_overlap, node_settings, until

INVITE = re.compile(r"^INVITE sip:(\d+)@", re.MULTILINE)


def invites(directory: Path) -> collections.Counter[str]:
    return collections.Counter(
        "+" + n for log in directory.glob("*_messages.log")
        for n in INVITE.findall(log.read_text(errors="replace")))


async def test_two_nodes_share_a_campaign_and_never_dial_a_lead_twice(
        make_settings: Callable[..., Settings], counters: Counters, make_tenant_key: Any,
        tmp_path: Path) -> None:
    phones = [f"+1212555{i:04d}" for i in range(10)]
    async with sipp_running(scenario="uas_answer_bye", calls=100, timeout_s=60, cwd=tmp_path,
                            extra=["-d", "800", "-trace_msg"]) as uas:
        first = node_settings(make_settings, uas.port, node_id="node-one")
        second = node_settings(make_settings, uas.port, node_id="node-two",
                               rtp_port_min=47000, rtp_port_max=47998)
        async with dialing_node(first, counters, make_tenant_key, start_dialer=False) as dn, \
                contextlib.AsyncExitStack() as stack:
            other = await stack.enter_async_context(running_node(second, counters=counters))
            other_dialer = dialer_component(second, other.services)
            campaign = await dn.campaign(
                leads=[{"phone": p} for p in phones],
                pacing={"calls_per_second": 20, "max_concurrent_calls": 4})
            await dn.action(campaign, "start")
            await asyncio.gather(dn.dialer.start(), other_dialer.start())
            try:
                await until(lambda: _completed(dn, campaign), timeout=40)
            finally:
                await other_dialer.stop()
            calls = await dn.calls(campaign)
        await asyncio.sleep(0.3)
        wire = await asyncio.to_thread(invites, tmp_path)
    assert wire == {p: 1 for p in phones}
    assert collections.Counter(c.to for c in calls) == {p: 1 for p in phones}
    assert {c.node_id for c in calls} == {"node-one", "node-two"}  # both dialled
    assert max_overlap(calls) <= 4


async def _completed(dn: Any, campaign: str) -> bool:
    return bool(await dn.status(campaign) == "completed")
