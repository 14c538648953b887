"""Allow ``python -m imagekit_cli``."""

from imagekit_cli.cli import main

if __name__ == "__main__":
    main()
