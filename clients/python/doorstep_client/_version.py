"""The client's version, sent as ``app_version`` at enrolment and in the User-Agent."""

__version__ = "0.1.0"
