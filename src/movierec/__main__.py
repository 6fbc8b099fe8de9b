"""``python -m movierec`` runs the CLI."""

from movierec.cli import main

if __name__ == "__main__":  # pragma: no cover
    main()
