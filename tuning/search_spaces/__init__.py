"""Search spaces as YAML files (data only): ``tunegym tune --space tuning/search_spaces/linucb.yaml``.

Loaded by :func:`tunegym.tuning.spaces.load_space`; every agent also has a default space in code.
"""
