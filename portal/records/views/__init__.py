"""The records area's pages, one module per job:

- `browse`: list, detail, contract usage, CSV export, reference-names refresh;
- `drafts`: the drafts page;
- `edit`: create and edit DualEntry drafts (contracts: proposals), the htmx line row;
- `proposals`: a proposal's page and edit form, contract usage batches;
- `attachments`: the upload view;
- `form_page`: the helpers every form page shares (`FormPage`, binding, control posts,
  refusals and failures onto the form);
- `failures`: DualEntry failures as pages (`upstream_failure`, `@upstream_failures`).

The names other code uses are re-exported here (the modules keep their own names:
`views.drafts` is the drafts module, its view is `views.drafts.drafts`).
"""

from portal.records.views.browse import (
    contract_usage,
    record_detail,
    record_detail_refresh,
    record_export,
    record_list,
    refresh_references,
)
from portal.records.views.failures import (
    upstream_error_response,
    upstream_failure,
    upstream_failures,
)

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
