"""The dialer: claims due leads of running campaigns and due callbacks, and places their calls
through the call layer (docs/api.md, "The dialer").

Pure parts (no I/O, time passed in): `pacing` (a token bucket per campaign), `window` (the
calling window in a lead's time zone), `retry` (what a call's end means for its lead). The
database side is `claims`; `loop` joins them to the call layer; `component` runs it in
`yotel serve`.
"""
