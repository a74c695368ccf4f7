"""Shipped tuner files (``NAME.pt``, data only) and their cards (``NAME.json``): ``load_tuner("pretrained:NAME")``.

Data only: :func:`tunegym.agents.tuners.pretrained_path` finds the files next to this module.
"""
