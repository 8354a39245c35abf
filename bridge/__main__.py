"""`python -m bridge`: the same command as `bridge`."""

from bridge.cli.main import main

if __name__ == "__main__":
    main()
