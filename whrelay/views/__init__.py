"""Display logic every front end shares, without a terminal library: untrusted text made inert
(``safetext``)."""
