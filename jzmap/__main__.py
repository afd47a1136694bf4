"""``python -m jzmap``: the same command line as the installed ``jzmap`` program."""

from jzmap.cli import app

if __name__ == "__main__":
    app(prog_name="jzmap")
