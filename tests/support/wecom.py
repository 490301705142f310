"""WeCom test constants."""

# The EncodingAESKey of WeCom's published test vector (43 characters, base64 without padding).
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
