"""Log formatting shared by the web server, the workers and the commands."""

import logging
import time


class UTCFormatter(logging.Formatter):
    """Format timestamps in UTC as ISO 8601, whatever the host's time zone."""

    converter = time.gmtime
    default_time_format = "%Y-%m-%dT%H:%M:%S"
    default_msec_format = "%s.%03dZ"
