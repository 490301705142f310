"""The adapters the domain is given: Redis (``redis/``), SQL (``sql/``), S3 storage and the VLM.

The only room of ``bot/`` that imports redis, hiredis, sqlalchemy, boto3, openai, lz4 or fakeredis
(``tests/unit/test_boundary.py`` holds that); every performance trick (Lua, packed commands, direct
connections, compressed records) lives here and nowhere else.
"""
