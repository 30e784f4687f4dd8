"""Reports for people: the metrics every report shows (`metrics`), ``report.json`` typed (`report_json`),
``report.md`` and ``curves.png`` of one evaluation (`evaluation_report`), the self-contained HTML page (`html`) and
several reports side by side (`compare`). They read results; they never adapt or judge."""
