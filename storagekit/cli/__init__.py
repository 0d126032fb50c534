"""The command line (click) and its rendering: no business logic."""
