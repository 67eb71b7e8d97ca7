"""The core: the records whrelay keeps (``models``), its errors and exit codes, where its files
live (``paths``), typed settings (``config``, ``defaults``), what a running receiver reports
(``events``), durations and sizes (``timeparse``), and the pure policies of forwarding: target
parsing, routing and the loopback guard (``targets``), the retry schedule (``retry``).
Imports no network, terminal or CLI library; everything else in whrelay builds on it."""
