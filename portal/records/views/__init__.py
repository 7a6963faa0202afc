"""The records area's pages, one module per job:

- `lists`: every kind's list, the drafts queue and their CSV/XLSX exports (read model only);
- `browse`: detail, contract usage, reference-names refresh;
- `edit`: create and edit DualEntry drafts (contracts: proposals), the htmx line row;
- `proposals`: a proposal's page and edit form, contract usage batches;
- `attachments`: the upload view;
- `form_page`: the helpers every form page shares (`FormPage`, binding, control posts,
  refusals and failures onto the form);
- `failures`: DualEntry failures as pages (`upstream_failure`, `@upstream_failures`).

The names other code uses are re-exported here (the modules keep their own names:
`views.lists` is the lists module, its drafts view is `views.lists.drafts`).
"""

from portal.records.views.browse import (
    contract_usage,
    record_detail,
    record_detail_refresh,
    refresh_references,
)
from portal.records.views.failures import (
    upstream_error_response,
    upstream_failure,
    upstream_failures,
)
from portal.records.views.lists import record_export, record_list

__all__ = [
    "contract_usage",
    "record_detail",
    "record_detail_refresh",
    "record_export",
    "record_list",
    "refresh_references",
    "upstream_error_response",
    "upstream_failure",
    "upstream_failures",
]
