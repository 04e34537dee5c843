"""The `yotel` command line (`yotel.cli.main:main`)."""
