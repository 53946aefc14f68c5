"""Schemathesis hooks for scripts/fuzz: the service's own rules, checked on every answer.

- every 4xx is JSON `{"detail": ...}`; a 422 lists the fields, each naming its `loc`;
- a refused change leaves the stored settings exactly as they were;
- statuses are tallied for docs/reliability.md.

Requests go one at a time (--workers 1), so "before" and "after" belong to the same request.
"""

import atexit
import collections
import json
import os
import urllib.request

import schemathesis

ROOT = os.environ["FUZZ_ROOT"]
TOKEN = os.environ["FUZZ_ADMIN_TOKEN"]
TALLY = os.environ["FUZZ_TALLY"]

statuses = collections.Counter()
operations = set()
samples = set()
settings_before = None


def stored_settings():
    request = urllib.request.Request(
        ROOT + "/api/streams/settings?include_secrets=true",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@schemathesis.hook
def before_call(context, case, kwargs):
    global settings_before
    settings_before = stored_settings() if case.method.upper() != "GET" else None


@schemathesis.hook
def after_call(context, case, response):
    statuses[response.status_code] += 1
    operations.add(case.operation.label)
    if response.status_code in (400, 405) and len(samples) < 40:
        samples.add(f"{response.status_code} {case.operation.label}: {response.content[:120]!r}")


def header(response, name):
    value = response.headers.get(name, "")
    return value[0] if isinstance(value, list) else value


@schemathesis.check
def refusals_are_json_naming_the_field(ctx, response, case):
    if not 400 <= response.status_code < 500:
        return
    assert header(response, "content-type").startswith("application/json"), (
        f"{response.status_code} is not JSON: {header(response, 'content-type')!r}"
    )
    body = json.loads(response.content)
    assert isinstance(body, dict) and "detail" in body, f"no detail: {body!r}"
    detail = body["detail"]
    if response.status_code == 422:
        assert isinstance(detail, list) and detail, f"422 without fields: {body!r}"
        for error in detail:
            assert error.get("loc") and error.get("msg"), f"a field error without loc/msg: {error!r}"
    else:
        assert detail, f"empty detail: {body!r}"


@schemathesis.check
def refused_changes_change_nothing(ctx, response, case):
    if settings_before is None or not 400 <= response.status_code < 500:
        return
    after = stored_settings()
    assert after == settings_before, (
        f"{case.method} {case.path} answered {response.status_code} but changed the settings"
    )


@atexit.register
def write_tally():
    with open(TALLY, "w") as out:
        json.dump(
            {
                "requests": sum(statuses.values()),
                "operations": len(operations),
                "statuses": {str(code): count for code, count in sorted(statuses.items())},
                "samples": sorted(samples),
            },
            out,
            indent=2,
        )
