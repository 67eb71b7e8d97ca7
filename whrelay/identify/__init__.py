"""Identification: who sent a webhook, which event and which delivery it is, told from its
headers and body without a secret (``detect``), reading only the JSON fields it needs
(``bodyfields``)."""
