"""The messenger platforms, one module each, listed once in ``PLATFORMS``.

A platform module only translates. ``parse`` turns a webhook request into a handshake, an
ignored event or a job (pure: no Flask, no I/O). ``sender`` answers a turn through the
platform's API. ``fetch_image`` (``fetch_voice``) downloads a message's photo (voice note) under the user's
lock. ``notify`` reaches a user outside a turn (ops resets, claims). ``post_card`` and ``update_card`` show an
order in its duty chat (``handlers.runner.duty``). ``photo_arrived`` (``voice_arrived``) acknowledges a photo
(a voice note) at once; ``close_card`` redraws a tapped card once its turn has run. Senders render a turn's
replies as one message, its ``Choice``s as the platform's own buttons. The Flask route, the ack and the
background turn are written once, in ``handlers.web.webhooks`` and
``handlers.runner.turns``.

``base.PlatformModule`` states that shape, so a type checker holds every platform to it. A new
platform is one new module here and one line in ``registry.PLATFORMS``.
"""
