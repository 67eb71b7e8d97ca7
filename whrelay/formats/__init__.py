"""File formats a webhook travels in outside the database: the raw HTTP/1.1 request file that
``verify --request`` reads (``httpfile``)."""
