"""The edge, in rooms by when the code runs.

``web/`` answers HTTP (Flask: the app factory, webhook routes, generic webhook, health, admin);
``platforms/`` translates one messenger each (verify, parse into an ``Incoming``, render replies), with no
Flask inside; ``runner/`` is what runs after the 200 (intake, the turn stream's consumers, the courier).
"""
