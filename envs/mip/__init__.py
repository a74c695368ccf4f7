"""MIP neighbourhood selection: adaptive large-neighbourhood search (LNS) on HiGHS (DESIGN §3.4, issue 10)."""
