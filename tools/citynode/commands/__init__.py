"""One module per `citynode` subcommand; see citynode.cli."""
