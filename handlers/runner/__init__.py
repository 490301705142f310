"""What runs after the 200: intake and dedupe, the turn stream's consumers, the courier and the duty sink."""
