"""Summarises a schemathesis NDJSON report: the cases run, the answers by status class, the
operations that answered 2xx at least once, and among the operations that take a body, those
that accepted a generated one.

    python3 tests/api-fuzz/summary.py REPORT.ndjson [NAME]
"""

import collections
import json
import sys


def main(path, name):
    cases = 0
    statuses = collections.Counter()
    operations = set()
    accepted = set()
    with_body = set()
    body_accepted = set()
    failed_checks = collections.Counter()
    with open(path, encoding="utf-8") as f:
        for line in f:
            event = json.loads(line)
            finished = event.get("ScenarioFinished")
            if not finished:
                continue
            recorder = finished["recorder"]
            label = recorder["label"]
            operations.add(label)
            for case_id, interactions in recorder.get("interactions", {}).items():
                if isinstance(interactions, dict):
                    interactions = [interactions]
                case = recorder.get("cases", {}).get(case_id, {}).get("value", {})
                has_body = "body" in case
                if has_body:
                    with_body.add(label)
                for interaction in interactions:
                    response = interaction.get("response") or {}
                    status = response.get("status_code")
                    if status is None:
                        continue
                    cases += 1
                    statuses[f"{status // 100}xx"] += 1
                    if 200 <= status < 300:
                        accepted.add(label)
                        if has_body:
                            body_accepted.add(label)
            for checks in recorder.get("checks", {}).values():
                for check in checks:
                    if check.get("status") == "failure":
                        failed_checks[check["name"]] += 1
    by_class = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
    print(
        f"api-fuzz summary ({name}): {cases} cases over {len(operations)} operations ({by_class}); "
        f"{len(accepted)} operations answered 2xx at least once; "
        f"{len(body_accepted)} of the {len(with_body)} operations that take a body accepted a generated one; "
        f"failed checks: {dict(failed_checks) or 'none'}"
    )
    for label in sorted(with_body - body_accepted):
        print(f"  never accepted a generated body: {label}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "")
