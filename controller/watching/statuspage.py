"""The read-only HTML status page of `enictl watch --listen` (`/`).

One self-contained document: inline CSS, no script, no external asset (the page's
Content-Security-Policy forbids both), refreshed by the browser every few seconds.
It tells, from one `Snapshot`:

- the process: readiness and its reason, role (leader and the lease's epoch, or the
  leader it stands by for), provider, state backend, manifests, interval and mode;
  while an apply runs, how many of its steps are done;
- the last reconcile: when, why, its outcome, duration, changes applied, the error or
  the manifest problems, and when the last successful one ended;
- servers: each declared server (and any server holding a declared or managed ENI)
  with its status and NIC use against its limit;
- interfaces: each declared ENI and each of this owner's managed ones no manifest
  names, where the cloud has it, where the manifests want it, and what is pending;
- failover ENIs: where each is, where the policy puts it and why, since when, and
  which of its standbys could take it now (and why not); the latest failover moves
  and how long each took from detection to attached;
- drift and the last plan's violations.

Every value is HTML-escaped. Nothing here reads a credential: the snapshot holds
none (the state backend is described without its password).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime

from controller.model import NetworkInterface, Topology
from controller.planning import invariants
from controller.views import planview
from controller.watching.loop import ReconcileResult
from controller.watching.status import Snapshot

REFRESH_SECONDS = 5
MAX_ROWS = 2000  # per table: a page stays light on a large project

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em;color:#1d2733;background:#fff}
h1{font-size:1.5em;margin:0 0 .3em}h2{font-size:1.15em;margin:1.6em 0 .4em}h3{font-size:1em}
.verdict{display:inline-block;padding:.25em .7em;border-radius:4px;font-weight:600}
.ok{background:#dff3e4;color:#135c2a}.bad{background:#fde2e1;color:#8a1c15}
.warn{color:#8a5a00}.verdict.warn{background:#fff3d6}.muted{color:#66717d}
table{border-collapse:collapse;min-width:40%}th,td{padding:.3em .7em;text-align:left;
border-bottom:1px solid #dde2e7;vertical-align:top}th{background:#f3f5f7}
dl{display:grid;grid-template-columns:max-content auto;gap:.2em 1.2em;margin:0}
dt{color:#66717d}dd{margin:0}meter{width:6em;vertical-align:middle}
code{font:13px ui-monospace,monospace}
"""


def render(snapshot: Snapshot, body: str | None = None) -> str:
    """The whole page for `snapshot`; `body` is `render_body(snapshot)` when the caller
    kept it (it changes only with `snapshot.serial`, not with an apply's progress)."""
    verdict = snapshot.readiness()
    css = "ok" if verdict.ready else "bad"
    head = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="refresh" content="{REFRESH_SECONDS}">',
        f"<title>enictl watch: {_e(verdict.reason.split(':')[0])}</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>enictl watch</h1>",
        f'<p id="readiness" class="verdict {css}">{_e(verdict.reason)}</p>',
        _applying(snapshot),
    ]
    return "\n".join([*head, render_body(snapshot) if body is None else body])


def render_body(snapshot: Snapshot) -> str:
    """Everything below the banners: the same for every snapshot of one serial."""
    parts = [
        _process(snapshot),
        _last_reconcile(snapshot),
        _servers(snapshot),
        _interfaces(snapshot),
        _failover(snapshot),
        _drift(snapshot.last),
        _violations(snapshot.last),
        f'<p class="muted">cloud last observed: '
        f"{_e(_when(snapshot.observed_at) if snapshot.observed else 'not yet')}</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def _process(s: Snapshot) -> str:
    a, last = s.about, s.last
    if last is None:
        role = "not known yet"
    elif s.leading:
        role = f"leader (lease epoch {last.epoch})" if last.epoch else "leader"
    else:
        role = f"standby ({last.leader} leads)" if last.leader else "standby"
    mode = "detect-only" if a.detect_only else "reconciling" + (", prune" if a.prune else "")
    pairs = [
        ("role", role),
        ("provider", a.provider),
        ("state backend", a.backend),
        ("manifests", f"{' '.join(a.paths)} (owner {a.owner})"),
        ("interval", f"{a.interval:g} s ({mode})"),
        ("started", _when(s.started)),
        ("reconciles", str(s.reconciles)),
        ("process", f"pid {a.pid} on {a.host}, enictl {a.version}"),
    ]
    return _section("process", "This process", _dl(pairs))


def _applying(s: Snapshot) -> str:
    run = s.applying
    if run is None:
        return ""
    text = f"applying since {_when(run.started)}: {run.done} of {run.steps} steps done"
    if run.failed:
        text += f", {run.failed} failed"
    if run.last:
        text += f"; last: {run.last}"
    return f'<p id="applying" class="verdict warn">{_e(text)}</p>'


def _last_reconcile(s: Snapshot) -> str:
    last = s.last
    if last is None:
        return _section("last-reconcile", "Last reconcile", "<p>none has finished yet</p>")
    summary = ", ".join(f"{k} {n}" for k, n in last.summary.items()) or "none"
    pairs = [
        ("ended", _when(last.time + last.duration)),
        ("trigger", last.trigger.value),
        ("outcome", last.outcome.value),
        ("duration", f"{last.duration:.2f} s"),
        ("changes", f"{last.changes} ({summary}), {last.applied} applied"),
        ("last success", _when_ended(s.last_success)),
    ]
    if last.error:
        pairs.append(("error", last.error))
    body = _dl(pairs)
    if last.problems:
        body += _list(last.problems)
    return _section("last-reconcile", "Last reconcile", body)


def _servers(s: Snapshot) -> str:
    observed = s.observed
    if observed is None:
        return _section("servers", "Servers", "<p>the cloud has not been observed yet</p>")
    names = set(s.desired.servers) if s.desired is not None else set()
    counts = observed.attached_counts()
    for iface in _shown_interfaces(s.desired, observed, s.about.owner):
        if iface.server is not None:
            names.add(iface.server)
    rows = []
    for name in sorted(names):
        server = observed.servers.get(name)
        if server is None:
            rows.append([_e(name), "", "", "", '<span class="bad">not in the cloud</span>', "", ""])
            continue
        used, limit = counts.get(name, 0), invariants.limit_of(server, observed.catalog)
        use = f"{used} / {limit if limit is not None else '?'}"
        if limit:
            use += f' <meter min="0" max="{limit}" low="{limit}" value="{used}"></meter>'
        nics = ", ".join(_e(i.name) for i in observed.interfaces_on(name))
        status = _e(server.status)
        if server.status != "ACTIVE":
            status = f'<span class="warn">{status}</span>'
        kind = server.kind.value.upper()
        cells = [name, kind, server.flavor, server.availability_zone]
        rows.append([*(_e(c) for c in cells), status, use, nics])
    head = ["Server", "Kind", "Flavor", "AZ", "Status", "NICs / limit", "Interfaces on it"]
    return _section("servers", "Servers", _table(head, rows, ids="server"))


def _interfaces(s: Snapshot) -> str:
    observed = s.observed
    if observed is None:
        return _section("interfaces", "Interfaces", "<p>the cloud has not been observed yet</p>")
    desired = s.desired.interfaces if s.desired is not None else {}
    in_grace = frozenset(s.last.in_grace) if s.last is not None else frozenset()
    placed = {f.interface: f.server for f in s.placements}
    rows = []
    for iface in _shown_interfaces(s.desired, observed, s.about.owner):
        found = observed.interfaces.get(iface.name)
        wanted = desired.get(iface.name)
        where = (found.server or "detached") if found is not None else "not in the cloud"
        holder = observed.servers.get(found.server) if found and found.server else None
        failing = ""
        if holder is not None and holder.down and wanted is not None and wanted.standbys:
            failing = f"{holder.name} {holder.status}"
        if wanted is None:
            state = _orphan(iface.name in in_grace)
        else:
            state = _state(found, placed.get(iface.name, wanted.server), failing)
        rows.append(
            [
                _e(iface.name),
                _e(where),
                _e(_declared(wanted, placed)),
                _e(iface.subnet),
                _e((found or iface).private_ip or ""),
                _e((found or iface).eip or ""),
                _e(", ".join((found or iface).security_groups)),
                state,
            ]
        )
    head = ["Interface", "On server", "Declared", "Subnet", "Private IP", "EIP", "SGs", "State"]
    return _section("interfaces", "Interfaces", _table(head, rows, ids="interface"))


def _failover(s: Snapshot) -> str:
    """Each failover ENI: where it is, where the policy puts it and why, since when, and
    which of its other servers could take it now; then the latest failover moves."""
    rows = []
    for found in s.placements:
        standbys = "; ".join(_standby(b.server, b.ready, b.reason) for b in found.standbys)
        rows.append(
            [
                _e(found.interface),
                _e(found.current or "detached"),
                _e(found.server or "detached"),
                _e(found.reason),
                _e(_when(found.since)) if found.since is not None else "",
                standbys or '<span class="warn">none</span>',
            ]
        )
    head = ["Interface", "On server", "Policy puts it on", "Why", "Last moved", "Standbys"]
    body = _table(head, rows, ids="failover") if rows else "<p>no failover ENI</p>"
    moves = [
        f"{_when(m.ended)}: {m.interface} {m.source or 'detached'} -> {m.target or 'detached'}"
        + (f" in {m.seconds:.2f} s" if m.seconds is not None else "")
        + (f" ({m.reason})" if m.reason else "")
        for m in reversed(s.failovers)
    ]
    if moves:
        body += f"<h3>Latest failovers</h3>{_list(moves)}"
    return _section("failover", "Failover ENIs", body)


def _standby(server: str, ready: bool, reason: str) -> str:
    if ready:
        return f'<span class="ok">{_e(server)} ready</span>'
    why = f" ({reason})" if reason else ""
    return f'<span class="warn">{_e(server)} not ready{_e(why)}</span>'


def _shown_interfaces(
    desired: Topology | None, observed: Topology, owner: str
) -> list[NetworkInterface]:
    """The declared ENIs (as declared) and this owner's managed ENIs no manifest names."""
    declared = dict(desired.interfaces) if desired is not None else {}
    for name, iface in observed.interfaces.items():
        if name not in declared and iface.managed_by == owner and not iface.primary:
            declared[name] = iface
    return [declared[name] for name in sorted(declared)]


def _declared(wanted: NetworkInterface | None, placed: Mapping[str, str | None]) -> str:
    """The manifests' server; for a failover ENI the policy moved, where it puts it."""
    if wanted is None:
        return "no manifest"
    declared = wanted.server or "detached"
    if wanted.name in placed and placed[wanted.name] != wanted.server:
        return f"{declared} (failover: {placed[wanted.name] or 'detached'})"
    return declared


def _orphan(in_grace: bool) -> str:
    if in_grace:
        return '<span class="warn">orphan: --prune deletes it once --prune-grace passed</span>'
    return '<span class="warn">orphan: no manifest names it</span>'


def _state(found: NetworkInterface | None, target: str | None, failing: str) -> str:
    """What is pending for a declared ENI: `target` is where it belongs (its server, or
    where the failover policy puts it); `failing` names its server when that is down."""
    if found is None:
        return '<span class="warn">to create</span>'
    if failing:
        return f'<span class="warn">failover pending: {_e(failing)}</span>'
    if found.server != target:
        return f'<span class="warn">to move to {_e(target or "detached")}</span>'
    return '<span class="ok">in place</span>'


def _drift(last: ReconcileResult | None) -> str:
    if last is None or not last.drift:
        return _section("drift", "Drift", "<p>none found by the last plan</p>")
    return _section("drift", "Drift", _list(planview.change_texts(last.drift)))


def _violations(last: ReconcileResult | None) -> str:
    if last is None or not last.violations:
        return _section("violations", "Violations", "<p>none in the last plan</p>")
    rows = [
        [f"<code>{_e(v.code.value)}</code>", _e(v.severity.value), _e(v.resource), _e(v.message)]
        for v in last.violations
    ]
    return _section(
        "violations", "Violations", _table(["Code", "Severity", "Resource", "Message"], rows)
    )


# -- markup ---------------------------------------------------------------------------


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _section(ident: str, title: str, body: str) -> str:
    return f'<section id="{ident}"><h2>{_e(title)}</h2>\n{body}\n</section>'


def _dl(pairs: Iterable[tuple[str, str]]) -> str:
    items = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in pairs)
    return f"<dl>{items}</dl>"


def _list(items: Iterable[str]) -> str:
    return "<ul>" + "".join(f"<li>{_e(item)}</li>" for item in items) + "</ul>"


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], *, ids: str = "") -> str:
    """A table of cells already escaped; at most MAX_ROWS rows, then how many more. With
    `ids`, each row is `<tr id="IDS-FIRSTCELL">` (a resource's name: links and tests)."""
    if not rows:
        return "<p>none</p>"
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    lines = []
    for row in rows[:MAX_ROWS]:
        ident = f' id="{ids}-{row[0]}"' if ids else ""
        lines.append(f"<tr{ident}>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>")
    more = ""
    if len(rows) > MAX_ROWS:
        more = f'<p class="muted">{len(rows) - MAX_ROWS} more not shown</p>'
    return f"<table><thead><tr>{header}</tr></thead><tbody>{''.join(lines)}</tbody></table>{more}"


def _when(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _when_ended(result: ReconcileResult | None) -> str:
    return "never" if result is None else _when(result.time + result.duration)
