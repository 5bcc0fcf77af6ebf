"""Hardware in the loop: the emulated board, its device models and worlds, and the harness for real boards."""
