"""Suite specs, one module per domain, each with a module-level ``SPECS`` list of plain dicts.

:mod:`tunegym.tuning.suites` registers every ``SPECS`` entry at import (see :class:`~tunegym.tuning.suites.Suite`
for the keys). Specs are data: no imports of domain code here, so loading the registry stays cheap.
"""
