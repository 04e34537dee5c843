"""Network safety shared by every subsystem that dials a tenant-supplied URL."""
