# Copyright dltHub Inc. and the verified-sources contributors.
# Licensed under the Apache License, Version 2.0 (LICENSE.txt beside this file).
# Vendored unmodified (but for this header) from dlt-hub/verified-sources at
# commit 3957506893a7da821dbcc6acd51c7ca4475d1f53, sources/google_sheets/helpers/__init__.py
"""Google Sheets source helpers"""
