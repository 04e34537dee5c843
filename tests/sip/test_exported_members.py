"""The curated public surface of `yotel.sip` stays importable and complete."""

from __future__ import annotations

import yotel.sip


def test_exported_members() -> None:
    exported = {name for name in dir(yotel.sip) if not name.startswith("_")}
    assert set(yotel.sip.__all__) <= exported
    assert {"UserAgent", "IncomingInvite", "OutgoingInvite", "Dialog", "InviteFailed",
            "DigestCredentials", "SessionDescription", "build_offer", "answer"} <= set(
        yotel.sip.__all__)
    for name in yotel.sip.__all__:
        assert getattr(yotel.sip, name).__module__.startswith("yotel.sip."), name
