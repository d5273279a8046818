"""The dashboard's services: the memoised, session-aware calls into core, by concern.

They draw no widget and import neither ui/ nor views/: where one reports progress, the ui
layer passes a report in (see report.py). Pure core functions and constants are called by
the views directly.
"""
