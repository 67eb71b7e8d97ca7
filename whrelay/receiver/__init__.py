"""The aiohttp receiver behind ``whrelay listen``. Imports no UI library."""
