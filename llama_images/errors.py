"""The one error type the project raises; its message is shown to users as is."""


class ProjectError(Exception):
    """A failure the user can act on: the message says what went wrong and what to do."""

    def __init__(self, message: str) -> None:
        one_line = " ".join(message.split())
        super().__init__(one_line)
        self.message = one_line
