"""Named exit codes (dramatiq's RET_*), shared by the CLI and the daemon."""

EXIT_OK = 0  # clean stop; `once`: every batch done; `validate`: no errors
EXIT_FAILURE = 1  # a stage crashed; `once`: a batch failed or could not finish; `check`: Canvas said no
EXIT_CONFIG = 2  # bad config or usage, no token, or another instance holds the lock: do not restart
EXIT_KILLED = 3  # a second SIGTERM/SIGINT: stopped at once, state on disk is still consistent
