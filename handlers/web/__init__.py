"""What answers HTTP: the app factory, the webhook routes, the generic webhook, health, metrics and admin."""
