"""Preconditioned Krylov solves over sequences of linear systems (issue #20; DESIGN §3.5, PCGBandit).

``instances`` (PDE sequences, user matrix files), ``precond`` (arms, builders, solvers, the work model),
``process`` (:class:`KrylovSolve`, :class:`KrylovFeatures`, the ``krylov.matvecs`` reward) and ``env``
(``tunegym/PCG-v0``, ``tunegym/PGMRES-v0``). The deployable tuner is :class:`tunegym.agents.KrylovTuner`.
"""
