"""The `prepaid-gateway` command line. Each subcommand lives in its own module."""
