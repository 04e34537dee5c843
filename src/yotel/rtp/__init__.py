"""RTP for Yotel's media: pure `packet`, `dtmf` (RFC 4733), `g711`, `rtcp` and `stats`, and the
I/O `session` (one UDP socket per leg) with its `ports` pool."""

from yotel.rtp.dtmf import DtmfEvent, DtmfReceiver, dtmf_train, event_code
from yotel.rtp.packet import RtpError, RtpPacket, read_header
from yotel.rtp.ports import PortsExhausted, RtpPortPool
from yotel.rtp.rtcp import RtcpError, RtcpPacket, is_rtcp, parse_compound
from yotel.rtp.session import RtpSession
from yotel.rtp.stats import RtpStats, SequenceTracker

__all__ = ["DtmfEvent", "DtmfReceiver", "PortsExhausted", "RtcpError", "RtcpPacket", "RtpError",
           "RtpPacket", "RtpPortPool", "RtpSession", "RtpStats", "SequenceTracker", "dtmf_train",
           "event_code", "is_rtcp", "parse_compound", "read_header"]
