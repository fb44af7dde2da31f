"""The backends beside the protocol (:mod:`sync.sheets`): :mod:`sync.backends.memory`,
:mod:`sync.backends.xlsx` and :mod:`sync.backends.google`. Import the one you use: the .xlsx
backend loads openpyxl, the Google one requests and google-auth."""
