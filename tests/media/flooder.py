"""An INVITE flood from one source, run as its own process by the admission test:
python flooder.py HOST SOURCE_PORT TARGET_PORT SDP_PORT COUNT SECONDS. Every INVITE offers
HOST:SDP_PORT for media; none is ever ACKed. Responses are read and dropped."""

from __future__ import annotations

import socket
import sys
import time
import uuid


def invite(host: str, source_port: int, port: int, sdp_port: int, n: int) -> bytes:
    body = (f"v=0\r\no=- {n} 1 IN IP4 {host}\r\ns=-\r\nc=IN IP4 {host}\r\nt=0 0\r\n"
            f"m=audio {sdp_port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n").encode()
    head = (f"INVITE sip:100@127.0.0.1:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {host}:{source_port};branch=z9hG4bK{uuid.uuid4().hex}\r\n"
            f"From: <sip:flood@{host}>;tag={n}\r\nTo: <sip:100@127.0.0.1>\r\n"
            f"Call-ID: flood-{n}-{uuid.uuid4().hex}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:flood@{host}:{source_port}>\r\nMax-Forwards: 70\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


def main(host: str, source_port: int, port: int, sdp_port: int, count: int,
         seconds: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, source_port))
    sock.setblocking(False)
    start = time.monotonic()
    for n in range(count):
        sock.sendto(invite(host, source_port, port, sdp_port, n), ("127.0.0.1", port))
        while True:
            try:
                sock.recv(65536)
            except BlockingIOError:
                break
        time.sleep(max(start + (n + 1) * seconds / count - time.monotonic(), 0))
    sock.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
         float(sys.argv[6]))
