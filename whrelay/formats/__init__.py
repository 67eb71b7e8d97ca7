"""File formats a webhook travels in outside the database: the raw HTTP/1.1 request file that
``verify --request`` reads (``httpfile``), and every format ``whrelay export`` writes and
``whrelay import`` reads (``export``, ``imports``)."""
