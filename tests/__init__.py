import os

# pytest-xdist's workers start with COLUMNS=80 and LINES=24 in their environment, and rich
# fixes a Console's size from them when it is made (the CLI's consoles are made at import);
# the CLI tests then could not widen the output with their own COLUMNS. This package is
# imported before conftest and every test module, so the CLI is imported after this.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)
