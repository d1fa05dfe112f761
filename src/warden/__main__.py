"""``python -m warden``: the same as the ``warden`` command."""

from warden.cli import main

if __name__ == "__main__":
    main()
