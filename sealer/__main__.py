from .cli import signals  # first: SIGINT, SIGTERM and SIGHUP are only recorded from here on

signals.hold()

from .cli import main  # noqa: E402

main()
