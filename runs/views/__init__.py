"""Run pages, one module per page family: runs (list), detail, errors, debug."""
