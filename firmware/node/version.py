# Replaced by `citynode build` with the version from git.
VERSION = "0.1.0-dev"
