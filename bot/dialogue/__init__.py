"""One turn of the conversation: the engine, the machine table, the flows, intents, choices and next step.

Pure: it talks to storage, the VLM and orders only through the ports of ``bot.ports``.
"""
