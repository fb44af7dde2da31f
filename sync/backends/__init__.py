"""The backends beside the protocol (:mod:`sync.sheets`): :mod:`sync.backends.memory` and
:mod:`sync.backends.xlsx`; the Google backend is :mod:`sync.google`. Import the one you use:
the .xlsx backend loads openpyxl."""
