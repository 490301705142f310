"""Order rules after an order exists: claims, escalation, duplicate reports, duty cards and routes. No I/O library."""
