"""Sites: the places of a tenant that people and systems agree on (a building, a gate, a pump room).

``model`` holds the site and the registry port; ``csv_io`` reads and writes the registry as CSV; ``admin``
is what ops do with it (import, export, tags), audited; ``matching`` lands a typed place on a site; ``tags``
prints QR tags and ``qr`` reads them back from a photo; ``geo`` measures and converts coordinates.
A tenant without sites works as if this room did not exist.
"""
