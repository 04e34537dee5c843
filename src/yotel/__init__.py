"""Yotel: telephony for voice AI."""
