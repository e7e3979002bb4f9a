"""graders-emulator: a local, faithful emulator of OpenAI's graders API."""

__version__ = "0.1.0"
