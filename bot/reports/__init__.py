"""Figures for the people who run the teams: time to claim and to fix, SLA breaches, reopens, backlog, volume.

One definition per figure (``docs/reports.md``), computed here from plain facts an adapter reads
(``bot.adapters.sql.reports``); the admin API, the CSV, the reports page and the digest all show this one result.
"""
