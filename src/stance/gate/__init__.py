"""Stage 4: the quality gate. Judges an evaluation against a spec and a baseline; writes what CI shows.

    spec.py       a gate spec from configs/gate/<name>.yaml or a YAML path (the script's way in)
    baseline.py   the baseline's predictions on the same pairs: a predictions file or an eval folder
    checks.py     each rule of the spec as a check with its numbers: floors, drops, per class, ECE
    outputs.py    summary.md ($GITHUB_STEP_SUMMARY too), junit.xml, metrics.json, report.html
    judge.py      one split folder at a time: read, compare with the baseline, check; write the outputs

The gate reads what the evaluation wrote (``<split>/predictions.jsonl`` and
``metrics.json``) and uses the evaluation's comparison (paired bootstrap,
McNemar); it never loads a model. Exit statuses: 0 pass, 1 fail, 2 cannot judge.
"""
